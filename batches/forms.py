"""The upload form of a batch file."""

from __future__ import annotations

from django import forms

from batches.parsing import MAX_FILE_BYTES, MAX_ROWS


class BatchUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            f"UTF-8 CSV with the dataset's columns (and optionally applicant_reference); "
            f"at most {MAX_ROWS:,} rows and {MAX_FILE_BYTES // (1024 * 1024)} MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        return upload
