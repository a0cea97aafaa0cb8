// The staff member's own time zone, for the times the admin shows (backoffice.middleware).
document.cookie = "tz=" + encodeURIComponent(Intl.DateTimeFormat().resolvedOptions().timeZone) + "; path=/; SameSite=Lax";
