from django import forms

from locks.models import Door, Reader


class ReaderForm(forms.ModelForm):
    class Meta:
        model = Reader
        fields = ["name", "door", "answer_seconds"]
        labels = {"answer_seconds": "Answer within (seconds)"}

    def __init__(self, *args, space, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["door"].queryset = Door.objects.filter(connection__space=space)
        self.fields["name"].help_text = "For you, e.g. “Front door reader”."
