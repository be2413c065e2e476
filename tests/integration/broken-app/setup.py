from setuptools import Extension, setup

setup(ext_modules=[Extension("broken_app._yamlver", ["src/broken_app/_yamlver.c"], libraries=["yaml"])])
