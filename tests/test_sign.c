/* Placeholder until the sign module's tests land. */
#include "unit.h"

void
test_sign(void)
{
}
