// The embed module's test binary: one file a component, this one names the module.
#define BOOST_TEST_MODULE embed
#include <boost/test/unit_test.hpp>
