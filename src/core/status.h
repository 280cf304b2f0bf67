// floe's Status and StatusOr live in the public headers (include/floe/status.h),
// since the public API returns them; code inside floe includes this name.
#pragma once

#include "floe/status.h"
