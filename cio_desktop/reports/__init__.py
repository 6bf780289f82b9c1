"""ReportDocument and its PDF, Excel and CSV renderers."""
