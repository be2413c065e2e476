#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *version(PyObject *self, PyObject *args) { return PyUnicode_FromString(Py_GetVersion()); }

static PyMethodDef methods[] = {{"version", version, METH_NOARGS, "the interpreter's version"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_embedded", NULL, -1, methods};

PyMODINIT_FUNC PyInit__embedded(void) { return PyModule_Create(&module); }
