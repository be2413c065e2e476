from setuptools import Extension, setup

# _yamlver links libyaml (build-packages has libyaml-dev; the runtime image has no libyaml-0-2);
# _embedded links libpython3.11 the way uwsgi built from its sdist does (no libpython3.11 at runtime).
setup(ext_modules=[
    Extension("broken_app._yamlver", ["src/broken_app/_yamlver.c"], libraries=["yaml"]),
    Extension("broken_app._embedded", ["src/broken_app/_embedded.c"], libraries=["python3.11"]),
])
