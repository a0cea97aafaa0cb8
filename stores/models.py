"""The store's side keeps no rows of its own yet: orders are ``returns``' (written through ``returns.orders``)."""
