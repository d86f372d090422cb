#ifndef CJANSSON_SHIM_H
#define CJANSSON_SHIM_H
#include <jansson.h>

/* json_typeof and json_decref are macros / inline functions over the struct's
   refcount field; Swift imports neither reliably, so they get plain wrappers. */
static inline int CJansson_typeof(const json_t *json) { return (int)json_typeof(json); }
static inline void CJansson_decref(json_t *json) { json_decref(json); }

#endif
