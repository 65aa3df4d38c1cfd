// Everything an application needs: #include "relate/relate.h".
#pragma once

#include "relate/db.h"
#include "relate/filter.h"
#include "relate/options.h"
#include "relate/status.h"
#include "relate/types.h"
