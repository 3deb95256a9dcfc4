"""The human side of the loop: the labeling web app and the simulated artist (the concept store is its own
package, :mod:`conceptstore`, beneath both this and the pipeline).

The app: :mod:`labeling.app` assembles it from :mod:`labeling.settings` (how it runs), :mod:`labeling.guards`
(host, origin and body-size checks), :mod:`labeling.deps` (each resource a route uses, as a typed dependency:
the atlas view, the store, the settings, the coach, its editor and dream network; and the token) and the routers
of :mod:`labeling.routes` (files, the atlas, the concepts, drawing, editing, dreaming); :mod:`labeling.atlas_view`
answers the atlas questions, :mod:`labeling.selections` what the page shows of a selection, and
:mod:`labeling.pictures` the points' pictures; :mod:`labeling.artist` plays a session.
"""
