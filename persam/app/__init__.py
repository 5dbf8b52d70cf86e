"""``persam app``: the web page (Gradio). :mod:`persam.app.ui` is the page, :mod:`persam.app.engine` the work,
:mod:`persam.app.targets` the uploads, :mod:`persam.app.methods` the method list. Nothing is imported here, so
the CLI can read :mod:`persam.app.options` without Gradio."""
