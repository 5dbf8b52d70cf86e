"""``persam app``: the web page (Gradio). :mod:`persam.app.ui` is the page, :mod:`persam.app.engine` the work,
:mod:`persam.app.targets` the uploads, :mod:`persam.app.methods` the method list. Nothing is imported here, so
``persam app`` starts the page before torch and SAM are imported."""
