/* Placeholder until the store module's tests land. */
#include "unit.h"

void
test_store(void)
{
}
