/* mx/mx.h: the whole public API of libmx. */
#ifndef MX_MX_H
#define MX_MX_H

#include "array.h"
#include "base.h"
#include "fast.h"
#include "io.h"
#include "lm.h"
#include "memory.h"
#include "nn.h"
#include "ops.h"
#include "optim.h"
#include "random.h"
#include "template.h"
#include "tokenizer.h"
#include "transforms.h"

#endif
