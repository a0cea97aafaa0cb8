"""The theme's look for the custom pages' plain Django forms (new claim, receive parcel, inspection, refund).

``{{ field|themed }}`` renders a bound field's widget with django-unfold's own classes for its kind (text, select,
textarea, checkbox, radio, file), so a form needs no theme-specific widgets and stays a plain ``forms.Form``;
``templates/admin/includes/console_field.html`` puts its label, errors and help beside it.
``{% queue_of_list cl as queue %}`` names the sidebar queue a list is, for its words when empty.
"""

from django import forms, template
from django.urls import reverse
from unfold import widgets as unfold

from backoffice import navigation

register = template.Library()


def _classes(widget: forms.Widget) -> list[str]:
    if isinstance(widget, forms.CheckboxInput):
        return unfold.CHECKBOX_CLASSES
    if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
        return []  # Django puts the class on the choices' wrapper too: native inputs, styled in console.css
    if isinstance(widget, forms.Select):
        return unfold.SELECT_CLASSES
    if isinstance(widget, forms.Textarea):
        return unfold.TEXTAREA_CLASSES
    if isinstance(widget, forms.FileInput):
        return unfold.FILE_CLASSES
    return unfold.INPUT_CLASSES


@register.filter
def themed(field):
    """The field's widget with the theme's classes; an invalid field says so to assistive technology."""
    widget = field.field.widget
    if isinstance(widget, forms.HiddenInput):
        return field.as_widget()
    classes = " ".join([widget.attrs.get("class", ""), *_classes(widget)]).strip()
    attrs = {"class": classes} if classes else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.filter
def is_checkbox(field) -> bool:
    return isinstance(field.field.widget, forms.CheckboxInput)


@register.simple_tag
def queue_of_list(cl):
    """The sidebar queue an admin list (its ``ChangeList``) is, or None (``navigation.queue_of``). From the list
    itself: the results' template is an inclusion tag's, without the request."""
    path = reverse(f"admin:{cl.opts.app_label}_{cl.opts.model_name}_changelist")
    return navigation.queue_of(path, cl.params)
