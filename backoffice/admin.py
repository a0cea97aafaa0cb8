from django.contrib import admin

admin.site.site_header = "After-sales back-office"
admin.site.site_title = "After-sales"
admin.site.index_title = "Claims, returns and refunds"
