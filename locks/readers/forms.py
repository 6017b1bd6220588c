from django import forms

from locks.models import Door, Reader
from locks.vendors import adapter_class
from locks.vendors.base import Capability


class ReaderForm(forms.ModelForm):
    class Meta:
        model = Reader
        fields = ["name", "door", "answer_seconds"]
        labels = {"answer_seconds": "Answer within (seconds)"}

    def __init__(self, *args, space, **kwargs):
        super().__init__(*args, **kwargs)
        # A reader's door is opened on demand: only doors whose lock AccessBridge can open remotely.
        doors = Door.objects.filter(connection__space=space).select_related("connection")
        openable = [d.pk for d in doors if adapter_class(d.connection.vendor).supports(Capability.REMOTE_OPEN)]
        self.fields["door"].queryset = Door.objects.filter(pk__in=openable)
        self.fields["door"].help_text = "Doors whose lock AccessBridge can open (remote open)."
        self.fields["name"].help_text = "For you, e.g. “Front door reader”."
