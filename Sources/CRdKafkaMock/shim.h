// The mock-cluster API must follow rdkafka.h; kept in its own module so production code never sees it.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
