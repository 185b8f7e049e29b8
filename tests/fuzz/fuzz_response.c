/* Fuzz target: the response head parser used by the delivery client. */
#include "../../http.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim = { 65536, HTTP_MAX_HEADERS };
	struct http_response res;

	http_parse_response((const char *)data, size, &lim, &res);
	return 0;
}
