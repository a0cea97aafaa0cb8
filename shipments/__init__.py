"""Return parcels (inbound) and replacement parcels (outbound).

Empty until the warehouse issue: the return address and instructions that the
approval email carries are settings (``RMA_RETURN_ADDRESS``) read by the email
template, because ``returns`` may not import this app.
"""
