/* tests/unit/daemon/test_sigv4.c - SigV4 verification (runtime/daemon/sigv4.c).
 *
 * 1. AWS's published Signature Version 4 test suite: every case whose path
 *    is normalized (all but the S3-style "-unnormalized" ones), as shipped
 *    in awslabs/aws-c-auth tests/aws-signing-test-suite/v4/<case>/
 *    {header-signed-request,header-canonical-request,header-string-to-sign}.txt
 *    (credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
 *    20150830T123600Z, us-east-1, service "service"). Our canonical request
 *    and string to sign must equal AWS's byte for byte, our signature the
 *    one in the request, and sigv4_verify must accept it; each case is then
 *    tampered with (signature, each signed header, method, path, body,
 *    clock) and must be refused.
 * 2. Every refusal path, with AWS's exception names and messages.
 * (tests/tools/sigv4_botocore_test.py signs with botocore itself.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>


#include "common/sha256.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "runtime/daemon/http.h"
#include "runtime/daemon/sigv4.h"

#define SUITE_NOW 1440938160   /* 2015-08-30T12:36:00Z */
#define SUITE_KEY "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static struct berthd_key suite_keys[] = {
	{ (char *)"AKIDOTHER", (char *)"other-secret" },
	{ (char *)SUITE_KEY, (char *)SUITE_SECRET },
};

struct vec {
	const char *name;
	const char *request;     /* header-signed-request.txt (LF line ends) */
	const char *creq;        /* header-canonical-request.txt */
	const char *sts;         /* header-string-to-sign.txt */
};

static const struct vec suite[] = {
	{ "get-header-key-duplicate",
	  "GET / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "My-Header1:value2\n"
	  "My-Header1:value2\n"
	  "My-Header1:value1\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "my-header1:value2,value2,value1\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;my-header1;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c" },
	{ "get-header-value-multiline",
	  "GET / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "My-Header1:value1\n"
	  "  value2\n"
	  "     value3\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "my-header1:value1 value2 value3\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;my-header1;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "e99419459a677bc11de234014be3c4e72c1ea5b454ceb58b613061f5d7a162e8" },
	{ "get-header-value-order",
	  "GET / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "My-Header1:value4\n"
	  "My-Header1:value1\n"
	  "My-Header1:value3\n"
	  "My-Header1:value2\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "my-header1:value4,value1,value3,value2\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;my-header1;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86" },
	{ "get-header-value-trim",
	  "GET / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "My-Header1: value1\n"
	  "My-Header2: \"a   b   c\"\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "my-header1:value1\n"
	  "my-header2:\"a b c\"\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;my-header1;my-header2;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7" },
	{ "get-relative-normalized",
	  "GET /example/.. HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63" },
	{ "get-relative-relative-normalized",
	  "GET /example1/example2/../.. HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63" },
	{ "get-slash-dot-slash-normalized",
	  "GET /./ HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63" },
	{ "get-slash-normalized",
	  "GET // HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63" },
	{ "get-slash-pointless-dot-normalized",
	  "GET /./example HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5\n"
	  "\n",
	  "GET\n"
	  "/example\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702" },
	{ "get-slashes-normalized",
	  "GET //example// HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84\n"
	  "\n",
	  "GET\n"
	  "/example/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015" },
	{ "get-space-normalized",
	  "GET /example space/ HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741\n"
	  "\n",
	  "GET\n"
	  "/example%20space/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86" },
	{ "get-unreserved",
	  "GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f\n"
	  "\n",
	  "GET\n"
	  "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9" },
	{ "get-utf8",
	  "GET /\xe1\x88\xb4 HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85\n"
	  "\n",
	  "GET\n"
	  "/%E1%88%B4\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102" },
	{ "get-vanilla-empty-query-key",
	  "GET /?Param1=value1 HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "Param1=value1\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab" },
	{ "get-vanilla-query-order-encoded",
	  "GET /?Param-3=Value3&Param=Value2&%E1%88%B4=Value1 HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "%E1%88%B4=Value1&Param=Value2&Param-3=Value3\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71" },
	{ "get-vanilla-query-order-key-case",
	  "GET /?Param2=value2&Param1=value1 HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "Param1=value1&Param2=value2\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0" },
	{ "get-vanilla-query-unreserved",
	  "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177" },
	{ "get-vanilla-query",
	  "GET / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63" },
	{ "get-vanilla-utf8-query",
	  "GET /?\xe1\x88\xb4=bar HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "%E1%88%B4=bar\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073" },
	{ "get-vanilla-with-session-token",
	  "GET / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Security-Token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n"
	  "\n"
	  "host;x-amz-date;x-amz-security-token\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b" },
	{ "get-vanilla",
	  "GET / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n"
	  "\n",
	  "GET\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63" },
	{ "post-header-key-case",
	  "POST / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b\n"
	  "\n",
	  "POST\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87" },
	{ "post-header-key-sort",
	  "POST / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "My-Header1:value1\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c\n"
	  "\n",
	  "POST\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "my-header1:value1\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;my-header1;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65" },
	{ "post-header-value-case",
	  "POST / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "My-Header1:VALUE1\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d\n"
	  "\n",
	  "POST\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "my-header1:VALUE1\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;my-header1;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93" },
	{ "post-sts-header-after",
	  "POST / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Security-Token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b\n"
	  "\n",
	  "POST\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87" },
	{ "post-sts-header-before",
	  "POST / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Security-Token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead\n"
	  "\n",
	  "POST\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "x-amz-security-token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==\n"
	  "\n"
	  "host;x-amz-date;x-amz-security-token\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6" },
	{ "post-vanilla-empty-query-value",
	  "POST /?Param1=value1 HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11\n"
	  "\n",
	  "POST\n"
	  "/\n"
	  "Param1=value1\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd" },
	{ "post-vanilla-query",
	  "POST /?Param1=value1 HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11\n"
	  "\n",
	  "POST\n"
	  "/\n"
	  "Param1=value1\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd" },
	{ "post-vanilla",
	  "POST / HTTP/1.1\n"
	  "Host:example.amazonaws.com\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b\n"
	  "\n",
	  "POST\n"
	  "/\n"
	  "\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "host;x-amz-date\n"
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87" },
	{ "post-x-www-form-urlencoded-parameters",
	  "POST / HTTP/1.1\n"
	  "Content-Type:application/x-www-form-urlencoded; charset=utf-8\n"
	  "Host:example.amazonaws.com\n"
	  "Content-Length:13\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422\n"
	  "\n"
	  "Param1=value1",
	  "POST\n"
	  "/\n"
	  "\n"
	  "content-length:13\n"
	  "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
	  "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d" },
	{ "post-x-www-form-urlencoded",
	  "POST / HTTP/1.1\n"
	  "Content-Type:application/x-www-form-urlencoded\n"
	  "Host:example.amazonaws.com\n"
	  "Content-Length:13\n"
	  "X-Amz-Date:20150830T123600Z\n"
	  "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
	  "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b\n"
	  "\n"
	  "Param1=value1",
	  "POST\n"
	  "/\n"
	  "\n"
	  "content-length:13\n"
	  "content-type:application/x-www-form-urlencoded\n"
	  "host:example.amazonaws.com\n"
	  "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
	  "x-amz-date:20150830T123600Z\n"
	  "\n"
	  "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
	  "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
	  "AWS4-HMAC-SHA256\n"
	  "20150830T123600Z\n"
	  "20150830/us-east-1/service/aws4_request\n"
	  "b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb" },
};

#define N_SUITE (sizeof(suite) / sizeof(suite[0]))

/* ------------------------------------------------------------- helpers */

/* A request in the suite's notation ("Name:value" lines ending in LF,
 * obs-fold continuation lines, raw UTF-8 or spaces in the target), read
 * leniently into a struct http_request, as a server that accepted it would
 * present it: a folded line joins its header's value after one space. */
struct sreq {
	struct http_request r;
	char *arena;
};

static void sreq_free(struct sreq *s)
{
	if (!s)
		return;
	free(s->arena);
	free(s);
}

static void sreq_freep(struct sreq **s)
{
	sreq_free(*s);
}
#define cleanup_sreq __attribute__((cleanup(sreq_freep)))

static struct sreq *sreq_read(const char *text)
{
	struct sreq *s = xzalloc(sizeof(*s));
	struct http_request *r = &s->r;
	size_t n = strlen(text), al = 0;
	const char *p = text, *end = text + n, *eol, *sp1, *sp2, *q;
	char *a;

	a = s->arena = xmalloc(2 * n + 16);
	eol = strchr(p, '\n');
	assert_non_null(eol);
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	sp2 = memrchr(p, ' ', (size_t)(eol - p));
	assert_true(sp1 && sp2 && sp2 > sp1);
	r->method = p;
	r->method_len = (size_t)(sp1 - p);
	r->target = sp1 + 1;
	r->target_len = (size_t)(sp2 - sp1 - 1);
	r->path = r->target;
	q = memchr(r->target, '?', r->target_len);
	r->path_len = q ? (size_t)(q - r->target) : r->target_len;
	r->query = q ? q + 1 : NULL;
	r->query_len = q ? r->target_len - r->path_len - 1 : 0;
	r->version = 11;
	r->keep_alive = true;
	p = eol + 1;
	while (p < end && *p != '\n') {
		const char *vs, *ve;

		eol = strchr(p, '\n');
		if (!eol)
			eol = end;
		if (*p == ' ' || *p == '\t') {
			struct http_header *h = &r->headers[r->n_headers - 1];

			assert_true(r->n_headers > 0);
			vs = p;
			ve = eol;
			while (vs < ve && (*vs == ' ' || *vs == '\t'))
				vs++;
			a[al++] = ' ';
			memcpy(a + al, vs, (size_t)(ve - vs));
			al += (size_t)(ve - vs);
			h->value_len = (size_t)(a + al - h->value);
		} else {
			const char *colon = memchr(p, ':', (size_t)(eol - p));
			struct http_header *h = &r->headers[r->n_headers++];

			assert_non_null(colon);
			assert_true(r->n_headers <= HTTP_MAX_HEADERS);
			h->name = a + al;
			h->name_len = (size_t)(colon - p);
			memcpy(a + al, p, h->name_len);
			al += h->name_len;
			vs = colon + 1;
			ve = eol;
			while (vs < ve && (*vs == ' ' || *vs == '\t'))
				vs++;
			while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			h->value = a + al;
			h->value_len = (size_t)(ve - vs);
			memcpy(a + al, vs, h->value_len);
			al += h->value_len;
		}
		p = eol + 1;
	}
	if (p < end)
		p++;   /* the empty line */
	r->body = p < end ? p : end;
	r->body_len = (size_t)(end - r->body);
	r->consumed = n;
	return s;
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[SHA256_LEN];

	sha256(data, n, md);
	for (unsigned i = 0; i < SHA256_LEN; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static const struct http_header *must_find(const struct http_request *r, const char *name)
{
	const struct http_header *h = http_header_find(r, name);

	if (!h)
		fail_msg("no %s header", name);
	return h;
}

/* sigv4_verify on r; checks the outcome */
static void expect_verdict(const char *what, const struct http_request *r,
			   const struct berthd_key *keys, size_t n_keys, const char *service,
			   time_t now, int64_t skew, const char *type, const char *msg)
{
	struct sigv4_result res;
	int rc;

	memset(&res, 0x55, sizeof(res));
	rc = sigv4_verify(r, keys, n_keys, service, skew, now, &res);
	if (!type) {
		if (rc != 0 || res.type)
			fail_msg("%s: refused: %s: %s", what, res.type ? res.type : "(null)", res.message);
		return;
	}
	if (rc != -1 || !res.type)
		fail_msg("%s: accepted, expected %s", what, type);
	if (strcmp(res.type, type) != 0 || !strstr(res.message, msg))
		fail_msg("%s: got %s: \"%s\"; expected %s: \"%s\"", what, res.type, res.message, type,
			 msg);
}

#define SIG_MISMATCH "The request signature we calculated does not match the signature you provided"

static void suite_verdict(const char *what, const struct http_request *r, const char *type,
			  const char *msg)
{
	expect_verdict(what, r, suite_keys, 2, "service", SUITE_NOW, 300, type, msg);
}

/* ---------------------------------------------------- the AWS test suite */

static void test_suite_canonical(void **state)
{
	(void)state;
	assert_true(N_SUITE >= 30);
	for (size_t i = 0; i < N_SUITE; i++) {
		const struct vec *v = &suite[i];
		cleanup_sreq struct sreq *s = sreq_read(v->request);
		const struct http_header *authz = must_find(&s->r, "authorization");
		const struct http_header *date = must_find(&s->r, "x-amz-date");
		const struct http_header *sha = http_header_find(&s->r, "x-amz-content-sha256");
		struct sigv4_auth a;
		struct sigv4_result res;
		char hash[65], sig[65], amz_date[17];
		cleanup_free char *creq = NULL;
		cleanup_free char *sts = NULL;

		if (sigv4_parse_authorization(authz->value, authz->value_len, &a, &res) != 0)
			fail_msg("%s: %s", v->name, res.message);
		if (sha)
			snprintf(hash, sizeof(hash), "%.*s", (int)sha->value_len, sha->value);
		else
			sha256_hex(s->r.body, s->r.body_len, hash);
		if (sigv4_canonical_request(&s->r, &a, hash, &creq, &res) != 0)
			fail_msg("%s: %s", v->name, res.message);
		if (strcmp(creq, v->creq) != 0)
			fail_msg("%s: canonical request\n%s\n--- expected\n%s", v->name, creq, v->creq);
		snprintf(amz_date, sizeof(amz_date), "%.*s", (int)date->value_len, date->value);
		sts = sigv4_string_to_sign(amz_date, &a, creq);
		if (strcmp(sts, v->sts) != 0)
			fail_msg("%s: string to sign\n%s\n--- expected\n%s", v->name, sts, v->sts);
		sigv4_signature(SUITE_SECRET, &a, sts, sig);
		if (a.signature.len != 64 || memcmp(sig, a.signature.p, 64) != 0)
			fail_msg("%s: signature %s, request has %.*s", v->name, sig,
				 (int)a.signature.len, a.signature.p);

		memset(&res, 0, sizeof(res));
		if (sigv4_verify(&s->r, suite_keys, 2, "service", 300, SUITE_NOW, &res) != 0)
			fail_msg("%s: refused: %s: %s", v->name, res.type, res.message);
		assert_null(res.type);
		assert_string_equal(res.access_key_id, SUITE_KEY);
		assert_string_equal(res.region, "us-east-1");
	}
}

/* The same requests as a client sends them (CRLF), through http_parse: the
 * strict parser refuses the suite's obs-fold, raw UTF-8 and space in a
 * target (400), and hands everything else to sigv4_verify intact. A POST
 * without a body gets "Content-Length: 0" (unsigned), as clients send it. */
static void test_suite_through_parser(void **state)
{
	static const char *const not_http[] = { "get-header-value-multiline", "get-space-normalized",
						"get-utf8", "get-vanilla-utf8-query" };
	size_t parsed = 0;

	(void)state;
	for (size_t i = 0; i < N_SUITE; i++) {
		const struct vec *v = &suite[i];
		struct http_out o = { 0 };
		struct http_parser p;
		static struct http_request r;
		const char *t = v->request, *blank = strstr(v->request, "\n\n");
		bool want_400 = false;
		enum http_parse_result rc;

		for (size_t k = 0; k < sizeof(not_http) / sizeof(not_http[0]); k++)
			if (strcmp(v->name, not_http[k]) == 0)
				want_400 = true;
		assert_non_null(blank);
		for (; t <= blank; t++) {
			if (*t == '\n')
				http_out_append(&o, "\r\n", 2);
			else
				http_out_append(&o, t, 1);
		}
		if (strncmp(v->request, "POST", 4) == 0 && !strstr(v->request, "Content-Length"))
			http_out_printf(&o, "Content-Length: 0\r\n");
		http_out_printf(&o, "\r\n%s", blank + 2);
		http_parser_init(&p, NULL);
		rc = http_parse(&p, o.buf, o.len, &r);
		if (want_400) {
			if (rc != HTTP_PARSE_ERROR || p.status != 400)
				fail_msg("%s: parser gave %d/%d, expected 400", v->name, rc, p.status);
		} else {
			if (rc != HTTP_PARSE_DONE)
				fail_msg("%s: %d %s", v->name, p.status, p.error);
			assert_int_equal(r.consumed, o.len);
			suite_verdict(v->name, &r, NULL, NULL);
			parsed++;
		}
		http_out_free(&o);
	}
	assert_int_equal(parsed, N_SUITE - 4);
}

/* a header value replaced, restored when done */
static void tamper_headers(const struct vec *v, struct sreq *s, struct sigv4_auth *a)
{
	struct sigv4_str name;
	size_t pos = 0;

	/* every signed header, one at a time */
	while (pos <= a->signed_headers.len) {
		size_t e = pos;

		while (e < a->signed_headers.len && a->signed_headers.p[e] != ';')
			e++;
		name.p = a->signed_headers.p + pos;
		name.len = e - pos;
		pos = e + 1;
		for (size_t i = 0; i < s->r.n_headers; i++) {
			struct http_header *h = &s->r.headers[i];
			const char *saved = h->value;
			size_t saved_len = h->value_len;
			char what[160];
			cleanup_free char *nv = NULL;

			if (h->name_len != name.len || strncasecmp(h->name, name.p, name.len) != 0)
				continue;
			snprintf(what, sizeof(what), "%s: %.*s changed", v->name, (int)name.len, name.p);
			if (http_header_is(h, "x-amz-date")) {
				nv = xstrdup("20150830T123601Z");   /* same day, one second on */
				h->value = nv;
				h->value_len = strlen(nv);
				suite_verdict(what, &s->r, SIGV4_INVALID, SIG_MISMATCH);
			} else if (http_header_is(h, "x-amz-content-sha256")) {
				nv = xstrndup(saved, saved_len);
				nv[0] = nv[0] == 'a' ? 'b' : 'a';
				h->value = nv;
				suite_verdict(what, &s->r, SIGV4_INVALID, "'x-amz-content-sha256'");
			} else {
				nv = xasprintf("%.*sx", (int)saved_len, saved);
				h->value = nv;
				h->value_len = saved_len + 1;
				suite_verdict(what, &s->r, SIGV4_INVALID, SIG_MISMATCH);
				/* whitespace is not significant: inner runs and ends */
				free(nv);
				nv = xasprintf("  %.*s \t", (int)saved_len, saved);
				h->value = nv;
				h->value_len = strlen(nv);
				suite_verdict(what, &s->r, NULL, NULL);
			}
			h->value = saved;
			h->value_len = saved_len;
		}
	}
}

static void test_suite_tampered(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITE; i++) {
		const struct vec *v = &suite[i];
		cleanup_sreq struct sreq *s = sreq_read(v->request);
		struct http_request *r = &s->r;
		struct http_header *authz = (struct http_header *)must_find(r, "authorization");
		struct sigv4_auth a;
		struct sigv4_result res;
		const char *saved;
		size_t saved_len;
		char what[128];
		cleanup_free char *flipped = NULL;
		struct berthd_key wrong[] = { { (char *)SUITE_KEY, (char *)"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ" } };

		assert_int_equal(sigv4_parse_authorization(authz->value, authz->value_len, &a, &res), 0);
		suite_verdict(v->name, r, NULL, NULL);

		/* the signature, last hex digit changed */
		flipped = xmemdup(authz->value, authz->value_len + 1);
		flipped[authz->value_len - 1] = flipped[authz->value_len - 1] == '0' ? '1' : '0';
		saved = authz->value;
		authz->value = flipped;
		snprintf(what, sizeof(what), "%s: signature", v->name);
		suite_verdict(what, r, SIGV4_INVALID, SIG_MISMATCH);
		authz->value = saved;

		tamper_headers(v, s, &a);

		/* method */
		saved = r->method;
		saved_len = r->method_len;
		r->method = r->method_len == 3 ? "PUT" : "GET";
		r->method_len = 3;
		snprintf(what, sizeof(what), "%s: method", v->name);
		suite_verdict(what, r, SIGV4_INVALID, SIG_MISMATCH);
		r->method = saved;
		r->method_len = saved_len;

		/* path */
		saved = r->path;
		saved_len = r->path_len;
		r->path = "/x";
		r->path_len = 2;
		snprintf(what, sizeof(what), "%s: path", v->name);
		suite_verdict(what, r, SIGV4_INVALID, SIG_MISMATCH);
		r->path = saved;
		r->path_len = saved_len;

		/* query: one more parameter */
		{
			const char *sq = r->query;
			size_t sql = r->query_len;
			cleanup_free char *nq = xasprintf("%.*s%szz=1", (int)sql, sq ? sq : "",
							  sql ? "&" : "");

			r->query = nq;
			r->query_len = strlen(nq);
			snprintf(what, sizeof(what), "%s: query", v->name);
			suite_verdict(what, r, SIGV4_INVALID, SIG_MISMATCH);
			r->query = sq;
			r->query_len = sql;
		}

		/* body */
		saved = r->body;
		saved_len = r->body_len;
		r->body = saved_len ? "Param1=value2" : "x";
		r->body_len = strlen(r->body);
		snprintf(what, sizeof(what), "%s: body", v->name);
		suite_verdict(what, r, SIGV4_INVALID,
			      http_header_find(r, "x-amz-content-sha256") ? "'x-amz-content-sha256'"
									  : SIG_MISMATCH);
		r->body = saved;
		r->body_len = saved_len;

		/* an unsigned header added: still fine */
		r->headers[r->n_headers].name = "User-Agent";
		r->headers[r->n_headers].name_len = 10;
		r->headers[r->n_headers].value = "test";
		r->headers[r->n_headers].value_len = 4;
		r->n_headers++;
		suite_verdict(v->name, r, NULL, NULL);
		r->n_headers--;

		/* wrong secret, unknown key, other service */
		snprintf(what, sizeof(what), "%s: wrong secret", v->name);
		expect_verdict(what, r, wrong, 1, "service", SUITE_NOW, 300, SIGV4_INVALID, SIG_MISMATCH);
		snprintf(what, sizeof(what), "%s: unknown key", v->name);
		expect_verdict(what, r, suite_keys, 1, "service", SUITE_NOW, 300, SIGV4_UNRECOGNIZED,
			       "The security token included in the request is invalid.");
		snprintf(what, sizeof(what), "%s: service", v->name);
		expect_verdict(what, r, suite_keys, 2, "ecs", SUITE_NOW, 300, SIGV4_INVALID,
			       "Credential should be scoped to correct service: 'ecs'.");

		/* the clock: within 300 s either way, not beyond */
		snprintf(what, sizeof(what), "%s: clock", v->name);
		expect_verdict(what, r, suite_keys, 2, "service", SUITE_NOW + 300, 300, NULL, NULL);
		expect_verdict(what, r, suite_keys, 2, "service", SUITE_NOW - 300, 300, NULL, NULL);
		expect_verdict(what, r, suite_keys, 2, "service", SUITE_NOW + 301, 300, SIGV4_INVALID,
			       "Signature expired: 20150830T123600Z is now earlier than "
			       "20150830T123601Z (20150830T124101Z - 5 min.)");
		expect_verdict(what, r, suite_keys, 2, "service", SUITE_NOW - 301, 300, SIGV4_INVALID,
			       "Signature not yet current: 20150830T123600Z is still later than "
			       "20150830T123559Z (20150830T123059Z + 5 min.)");
	}
}

/* An ECS ListTasks request exactly as botocore 1.29 (Debian's) signed it
 * (SigV4Auth, service ecs, us-east-1, the suite's key, 20150830T123600Z):
 * a fixed vector for when the botocore script cannot run. */
static const char botocore_ecs[] =
	"POST / HTTP/1.1\r\n"
	"Host: 127.0.0.1:8080\r\n"
	"X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListTasks\r\n"
	"Content-Type: application/x-amz-json-1.1\r\n"
	"X-Amz-Date: 20150830T123600Z\r\n"
	"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ecs/aws4_request, "
	"SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
	"Signature=33d7beb803a66732dffd648c666c50dc8eca6cb31fee8a618e2e9c2b71f514f1\r\n"
	"Content-Length: 22\r\n"
	"\r\n"
	"{\"cluster\": \"default\"}";

static void test_botocore_vector(void **state)
{
	struct http_parser p;
	static struct http_request r;
	struct http_out o = { 0 };

	(void)state;
	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, botocore_ecs, strlen(botocore_ecs), &r), HTTP_PARSE_DONE);
	expect_verdict("botocore", &r, suite_keys, 2, "ecs", SUITE_NOW, 300, NULL, NULL);
	expect_verdict("botocore as service", &r, suite_keys, 2, "service", SUITE_NOW, 300,
		       SIGV4_INVALID, "correct service: 'service'");
	/* the target changed to another operation */
	http_out_append(&o, botocore_ecs, strlen(botocore_ecs));
	memcpy(strstr(o.buf, "ListTasks"), "StopTask ", 9);
	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, o.buf, o.len, &r), HTTP_PARSE_DONE);
	expect_verdict("botocore, other op", &r, suite_keys, 2, "ecs", SUITE_NOW, 300, SIGV4_INVALID,
		       SIG_MISMATCH);
	http_out_free(&o);
}

/* ------------------------------------------------- Authorization parsing */

static void expect_auth_ok(const char *value, const char *key, const char *region,
			   const char *sh, const char *sig)
{
	struct sigv4_auth a;
	struct sigv4_result res;

	if (sigv4_parse_authorization(value, strlen(value), &a, &res) != 0)
		fail_msg("\"%s\": %s", value, res.message);
	if (a.key_id.len != strlen(key) || memcmp(a.key_id.p, key, a.key_id.len) != 0 ||
	    a.region.len != strlen(region) || memcmp(a.region.p, region, a.region.len) != 0 ||
	    a.signed_headers.len != strlen(sh) || memcmp(a.signed_headers.p, sh, a.signed_headers.len) != 0 ||
	    a.signature.len != strlen(sig) || memcmp(a.signature.p, sig, a.signature.len) != 0)
		fail_msg("\"%s\": parsed wrong", value);
}

static void expect_auth_bad(const char *value, const char *msg)
{
	struct sigv4_auth a;
	struct sigv4_result res;

	memset(&res, 0, sizeof(res));
	if (sigv4_parse_authorization(value, strlen(value), &a, &res) == 0)
		fail_msg("\"%s\": accepted", value);
	if (!res.type || strcmp(res.type, SIGV4_INCOMPLETE) != 0 || !strstr(res.message, msg))
		fail_msg("\"%s\": %s \"%s\", expected \"%s\"", value, res.type ? res.type : "(null)",
			 res.message, msg);
}

static void test_authorization_parse(void **state)
{
	(void)state;
	expect_auth_ok("AWS4-HMAC-SHA256 Credential=AK/20150830/eu-west-1/ecs/aws4_request, "
		       "SignedHeaders=host;x-amz-date, Signature=abc",
		       "AK", "eu-west-1", "host;x-amz-date", "abc");
	/* any order, no or more whitespace around the commas, trailing space */
	expect_auth_ok("AWS4-HMAC-SHA256   Signature=abc,SignedHeaders=host ,  "
		       "Credential=AK/20150830/r/ecs/aws4_request  ",
		       "AK", "r", "host", "abc");
	expect_auth_ok("AWS4-HMAC-SHA256\tCredential=A/d/r/s/t,SignedHeaders=h,Signature=s", "A", "r",
		       "h", "s");

	expect_auth_bad("", "AWS4-HMAC-SHA256");
	expect_auth_bad("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256");
	expect_auth_bad("AWS4-HMAC-SHA256 ", "requires 'Credential'");
	expect_auth_bad("Bearer abc", "AWS4-HMAC-SHA256");
	expect_auth_bad("AWS4-HMAC-SHA1 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x",
			"AWS4-HMAC-SHA256");
	expect_auth_bad("AWS4-HMAC-SHA256Credential=a/b/c/d/e, SignedHeaders=host, Signature=x",
			"AWS4-HMAC-SHA256");
	expect_auth_bad("aws4-hmac-sha256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x",
			"AWS4-HMAC-SHA256");
	expect_auth_bad("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=x", "requires 'Credential'");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Signature=x",
			"requires 'SignedHeaders'");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host",
			"requires 'Signature'");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=",
			"requires 'Signature'");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=x",
			"requires 'Credential'");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=x",
			"exactly 5 slash-delimited elements");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=host, Signature=x",
			"exactly 5 slash-delimited elements");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a//c/d/e, SignedHeaders=host, Signature=x",
			"exactly 5 slash-delimited elements");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/, SignedHeaders=host, Signature=x",
			"exactly 5 slash-delimited elements");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=/b/c/d/e, SignedHeaders=host, Signature=x",
			"exactly 5 slash-delimited elements");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Credential=a/b/c/d/e, "
			"SignedHeaders=host, Signature=x", "'Credential' twice");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x, "
			"Signature=y", "'Signature' twice");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x, "
			"Extra=1", "unknown component 'Extra'");
	expect_auth_bad("AWS4-HMAC-SHA256 credential=a/b/c/d/e, SignedHeaders=host, Signature=x",
			"unknown component 'credential'");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,, SignedHeaders=host, Signature=x",
			"empty component");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x,",
			"empty component");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders, Signature=x",
			"'SignedHeaders' is not key=value");
	expect_auth_bad("AWS4-HMAC-SHA256 Credential=a/b c/d/e/f, SignedHeaders=host, Signature=x",
			"contains whitespace");
	{
		char longkey[400];

		snprintf(longkey, sizeof(longkey),
			 "AWS4-HMAC-SHA256 Credential=%0129d/b/c/d/e, SignedHeaders=host, Signature=x", 7);
		expect_auth_bad(longkey, "longer than 128");
	}
}

/* ------------------------------------------- requests signed here, refused */

struct signing {
	const char *key, *secret, *scope_date, *region, *service, *term, *signed_headers;
};

static const struct signing ecs_signing = {
	SUITE_KEY, SUITE_SECRET, "20150830", "us-east-1", "ecs", "aws4_request",
	"content-type;host;x-amz-date;x-amz-target",
};

#define ECS_HEAD "POST / HTTP/1.1\n"                                               \
		 "Host:127.0.0.1:8080\n"                                           \
		 "Content-Type:application/x-amz-json-1.1\n"                       \
		 "X-Amz-Target:AmazonEC2ContainerServiceV20141113.ListClusters\n"
#define ECS_DATE "X-Amz-Date:20150830T123600Z\n"
#define ECS_BODY "{\"maxResults\": 10}"

/* head (request line + header lines, LF) and body signed as sg says, with
 * the Authorization header appended: the request as text. The signature is
 * computed by the library's own sigv4_canonical_request/_string_to_sign/
 * _signature (which the suite above checks against AWS's vectors); where
 * they refuse (a malformed SignedHeaders), the signature is a dummy. */
static char *sign_text(const char *head, const char *body, const struct signing *sg)
{
	cleanup_free char *unsigned_text = xasprintf("%s\n%s", head, body);
	cleanup_sreq struct sreq *s = sreq_read(unsigned_text);
	const struct http_header *sha = http_header_find(&s->r, "x-amz-content-sha256");
	const struct http_header *date = http_header_find(&s->r, "x-amz-date");
	cleanup_free char *creq = NULL;
	cleanup_free char *sts = NULL;
	struct sigv4_auth a = {
		.key_id = { sg->key, strlen(sg->key) },
		.date = { sg->scope_date, strlen(sg->scope_date) },
		.region = { sg->region, strlen(sg->region) },
		.service = { sg->service, strlen(sg->service) },
		.terminator = { sg->term, strlen(sg->term) },
		.signed_headers = { sg->signed_headers, strlen(sg->signed_headers) },
	};
	struct sigv4_result res;
	char hash[65], sig[65], amz_date[64];

	if (sha)
		snprintf(hash, sizeof(hash), "%.*s", (int)sha->value_len, sha->value);
	else
		sha256_hex(body, strlen(body), hash);
	snprintf(amz_date, sizeof(amz_date), "%.*s", date ? (int)date->value_len : 0,
		 date ? date->value : "");
	if (sigv4_canonical_request(&s->r, &a, hash, &creq, &res) == 0) {
		sts = sigv4_string_to_sign(amz_date, &a, creq);
		sigv4_signature(sg->secret, &a, sts, sig);
	} else {
		memset(sig, 'f', 64);
		sig[64] = '\0';
	}
	return xasprintf("%sAuthorization:AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/%s, "
			 "SignedHeaders=%s, Signature=%s\n\n%s",
			 head, sg->key, sg->scope_date, sg->region, sg->service, sg->term,
			 sg->signed_headers, sig, body);
}

static void ecs_verdict(const char *text, const char *type, const char *msg)
{
	cleanup_sreq struct sreq *s = sreq_read(text);

	expect_verdict(text, &s->r, suite_keys, 2, "ecs", SUITE_NOW, 300, type, msg);
}

static void test_ecs_request(void **state)
{
	cleanup_free char *ok = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &ecs_signing);
	cleanup_sreq struct sreq *s = sreq_read(ok);
	struct sigv4_result res;
	struct signing sg = ecs_signing;
	cleanup_free char *eu = NULL;
	cleanup_free char *other = NULL;
	struct berthd_key nosecret[] = { { (char *)SUITE_KEY, NULL } };

	(void)state;
	assert_int_equal(sigv4_verify(&s->r, suite_keys, 2, "ecs", 300, SUITE_NOW, &res), 0);
	assert_null(res.type);
	assert_string_equal(res.access_key_id, SUITE_KEY);
	assert_string_equal(res.region, "us-east-1");

	/* any region, returned */
	sg.region = "eu-central-2";
	eu = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	sreq_free(s);
	s = sreq_read(eu);
	assert_int_equal(sigv4_verify(&s->r, suite_keys, 2, "ecs", 300, SUITE_NOW, &res), 0);
	assert_string_equal(res.region, "eu-central-2");

	/* the first key of two */
	sg = ecs_signing;
	sg.key = "AKIDOTHER";
	sg.secret = "other-secret";
	other = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	ecs_verdict(other, NULL, NULL);
	sreq_free(s);
	s = sreq_read(other);
	assert_int_equal(sigv4_verify(&s->r, suite_keys, 2, "ecs", 300, SUITE_NOW, &res), 0);
	assert_string_equal(res.access_key_id, "AKIDOTHER");
	/* ...signed with the other key's secret: no */
	sg.secret = SUITE_SECRET;
	free(other);
	other = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	ecs_verdict(other, SIGV4_INVALID, SIG_MISMATCH);

	/* a configured key without a secret never matches */
	sreq_free(s);
	s = sreq_read(ok);
	expect_verdict("no secret", &s->r, nosecret, 1, "ecs", SUITE_NOW, 300, SIGV4_UNRECOGNIZED,
		       "security token");
	/* no keys at all */
	expect_verdict("no keys", &s->r, NULL, 0, "ecs", SUITE_NOW, 300, SIGV4_UNRECOGNIZED,
		       "security token");
	/* skew other than whole minutes, and 0 */
	expect_verdict("skew 90", &s->r, suite_keys, 2, "ecs", SUITE_NOW + 91, 90, SIGV4_INVALID,
		       "(20150830T123731Z - 90 s.)");
	expect_verdict("skew 0", &s->r, suite_keys, 2, "ecs", SUITE_NOW, 0, NULL, NULL);
	expect_verdict("skew 0", &s->r, suite_keys, 2, "ecs", SUITE_NOW + 1, 0, SIGV4_INVALID,
		       "Signature expired");
}

static void test_missing_and_duplicates(void **state)
{
	cleanup_free char *ok = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &ecs_signing);
	cleanup_free char *two_auth = NULL;
	cleanup_free char *two_date = NULL;
	cleanup_free char *no_date = NULL;
	struct signing sg = ecs_signing;
	const char *authz = strstr(ok, "Authorization:");
	char *eol;

	(void)state;
	/* without Authorization */
	{
		cleanup_free char *bare = xasprintf("%s\n%s", ECS_HEAD ECS_DATE, ECS_BODY);

		ecs_verdict(bare, SIGV4_MISSING_TOKEN, "Missing Authentication Token");
	}
	/* Authorization twice */
	eol = strchr(authz, '\n');
	two_auth = xasprintf("%.*s%.*s%s", (int)(eol + 1 - ok), ok, (int)(eol + 1 - authz), authz,
			     eol + 1);
	ecs_verdict(two_auth, SIGV4_INCOMPLETE, "More than one Authorization header");
	/* X-Amz-Date missing (signed headers without it) */
	sg.signed_headers = "content-type;host;x-amz-target";
	no_date = sign_text(ECS_HEAD, ECS_BODY, &sg);
	ecs_verdict(no_date, SIGV4_INCOMPLETE, "requires existence of a 'X-Amz-Date' header");
	/* twice */
	two_date = sign_text(ECS_HEAD ECS_DATE ECS_DATE, ECS_BODY, &ecs_signing);
	ecs_verdict(two_date, SIGV4_INCOMPLETE, "More than one X-Amz-Date header");
}

static void test_bad_dates(void **state)
{
	static const char *const bad[] = {
		"20150830T123600", "20150830T123600ZZ", "20150830t123600Z", "20150830 123600Z",
		"2015-08-30T12:36:00Z", "20150230T123600Z", "20150830T243600Z", "20150830T126000Z",
		"20150830T123660Z", "2015083OT123600Z", "", "Sun, 30 Aug 2015 12:36:00 GMT",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_free char *head = xasprintf(ECS_HEAD "X-Amz-Date:%s\n", bad[i]);
		cleanup_free char *text = sign_text(head, ECS_BODY, &ecs_signing);

		ecs_verdict(text, SIGV4_INCOMPLETE, "ISO-8601 basic format");
	}
	/* a real date on another day than the scope's */
	{
		cleanup_free char *text = sign_text(ECS_HEAD "X-Amz-Date:20150831T000000Z\n", ECS_BODY,
						    &ecs_signing);
		cleanup_sreq struct sreq *s = sreq_read(text);

		expect_verdict("day", &s->r, suite_keys, 2, "ecs", SUITE_NOW + 41040, 300, SIGV4_INVALID,
			       "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
			       "of date from HTTP: '20150830' != '20150831', from '20150831T000000Z'.");
	}
}

static void test_scope(void **state)
{
	struct signing sg = ecs_signing;
	cleanup_free char *t1 = NULL;
	cleanup_free char *t2 = NULL;
	cleanup_free char *t3 = NULL;
	cleanup_free char *t4 = NULL;
	cleanup_free char *t5 = NULL;
	cleanup_free char *t6 = NULL;

	(void)state;
	sg.term = "aws4_reques";
	t1 = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	ecs_verdict(t1, SIGV4_INVALID,
		    "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_reques'.");
	sg = ecs_signing;
	sg.service = "ecr";
	t2 = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	ecs_verdict(t2, SIGV4_INVALID, "Credential should be scoped to correct service: 'ecs'.");
	sg = ecs_signing;
	sg.region = "us.east";
	t3 = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	ecs_verdict(t3, SIGV4_INVALID, "Credential should be scoped to a valid region, not 'us.east'.");
	sg = ecs_signing;
	sg.region = "a-region-name-that-is-longer-than-sixty-four-bytes-which-no-aws-region-is";
	t5 = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	ecs_verdict(t5, SIGV4_INVALID, "Credential should be scoped to a valid region");
	sg.region = "a-region-name-that-is-exactly-sixty-four-bytes-long-and-is-fine0";
	assert_int_equal(strlen(sg.region), 64);
	t6 = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	ecs_verdict(t6, NULL, NULL);
	sg = ecs_signing;
	sg.scope_date = "2015083";
	t4 = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
	ecs_verdict(t4, SIGV4_INVALID, "Date in Credential scope does not match");
}

static void test_signed_headers(void **state)
{
	static const struct {
		const char *sh, *type, *msg;
	} cases[] = {
		{ "content-type;x-amz-date;x-amz-target", SIGV4_INVALID,
		  "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization." },
		{ "host;content-type;x-amz-date", SIGV4_INCOMPLETE, "sorted" },
		{ "content-type;Host;x-amz-date", SIGV4_INCOMPLETE, "lower-case" },
		{ "content-type;host;host;x-amz-date", SIGV4_INCOMPLETE, "each once" },
		{ "content-type;;host;x-amz-date", SIGV4_INCOMPLETE, "SignedHeaders must be" },
		{ "content-type;host;x-amz-date;", SIGV4_INCOMPLETE, "SignedHeaders must be" },
		{ "content-type;host;x-amz-date;x-amz-target;x-missing", SIGV4_INVALID,
		  "Signed header 'x-missing' is not in the request" },
		/* only some headers signed is fine, and so is a prefix-sorted pair */
		{ "host", NULL, NULL },
		{ "host;x-amz-date", NULL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct signing sg = ecs_signing;
		cleanup_free char *text = NULL;

		sg.signed_headers = cases[i].sh;
		text = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &sg);
		ecs_verdict(text, cases[i].type, cases[i].msg);
	}
	/* "x-a" sorts before "x-a-b" (a prefix first) */
	{
		struct signing sg = ecs_signing;
		cleanup_free char *text = NULL;

		sg.signed_headers = "host;x-a;x-a-b;x-amz-date";
		text = sign_text(ECS_HEAD ECS_DATE "X-A-B:2\nX-A:1\n", ECS_BODY, &sg);
		ecs_verdict(text, NULL, NULL);
		sg.signed_headers = "host;x-a-b;x-a;x-amz-date";
		free(text);
		text = sign_text(ECS_HEAD ECS_DATE "X-A-B:2\nX-A:1\n", ECS_BODY, &sg);
		ecs_verdict(text, SIGV4_INCOMPLETE, "sorted");
	}
}

static void test_payload_hash(void **state)
{
	struct signing sg = ecs_signing;
	char hash[65], upper[65];
	cleanup_free char *good = NULL;
	cleanup_free char *up = NULL;
	cleanup_free char *unsig = NULL;
	cleanup_free char *twice = NULL;
	cleanup_free char *tampered = NULL;

	(void)state;
	sha256_hex(ECS_BODY, strlen(ECS_BODY), hash);
	for (int i = 0; i < 65; i++)
		upper[i] = (char)(hash[i] >= 'a' && hash[i] <= 'f' ? hash[i] - 32 : hash[i]);
	sg.signed_headers = "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target";
	{
		cleanup_free char *head = xasprintf(ECS_HEAD ECS_DATE "X-Amz-Content-Sha256:%s\n", hash);
		cleanup_free char *head_up = xasprintf(ECS_HEAD ECS_DATE "x-amz-content-sha256:%s\n", upper);
		cleanup_free char *head2 = xasprintf(ECS_HEAD ECS_DATE "X-Amz-Content-Sha256:%s\n"
						     "X-Amz-Content-Sha256:%s\n", hash, hash);

		good = sign_text(head, ECS_BODY, &sg);
		up = sign_text(head_up, ECS_BODY, &sg);
		twice = sign_text(head2, ECS_BODY, &sg);
		/* signed over the header, body changed: caught by the hash check */
		tampered = sign_text(head, ECS_BODY, &sg);
		tampered[strlen(tampered) - 3] = '9';
	}
	ecs_verdict(good, NULL, NULL);
	ecs_verdict(up, NULL, NULL);   /* the same hash in upper case, signed as sent */
	ecs_verdict(twice, SIGV4_INCOMPLETE, "More than one X-Amz-Content-Sha256");
	ecs_verdict(tampered, SIGV4_INVALID,
		    "The provided 'x-amz-content-sha256' header does not match what was computed");
	unsig = sign_text(ECS_HEAD ECS_DATE "X-Amz-Content-Sha256:UNSIGNED-PAYLOAD\n", ECS_BODY, &sg);
	ecs_verdict(unsig, SIGV4_INVALID, "'x-amz-content-sha256'");
	/* even unsigned, a hash header must match the body (it is what gets signed) */
	{
		cleanup_free char *head = xasprintf(ECS_HEAD ECS_DATE "X-Amz-Content-Sha256:%s\n", hash);
		cleanup_free char *t = sign_text(head, "{}", &ecs_signing);

		ecs_verdict(t, SIGV4_INVALID, "'x-amz-content-sha256'");
	}
	/* no hash header: a changed body changes the signature */
	{
		cleanup_free char *t = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &ecs_signing);

		t[strlen(t) - 3] = '9';
		ecs_verdict(t, SIGV4_INVALID, SIG_MISMATCH);
	}
}

static void test_signature_form(void **state)
{
	cleanup_free char *ok = sign_text(ECS_HEAD ECS_DATE, ECS_BODY, &ecs_signing);
	cleanup_free char *up = xstrdup(ok);
	cleanup_free char *shorter = NULL;
	cleanup_free char *longer = NULL;
	char *sig = strstr(up, "Signature=") + 10;
	char *nl = strchr(sig, '\n');

	(void)state;
	ecs_verdict(ok, NULL, NULL);
	/* hex is compared as AWS sends it: lower case */
	for (char *c = sig; c < nl; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 32);
	ecs_verdict(up, SIGV4_INVALID, SIG_MISMATCH);
	shorter = xasprintf("%.*s%s", (int)(strstr(ok, "Signature=") + 10 + 63 - ok), ok,
			    strstr(ok, "Signature=") + 10 + 64);
	ecs_verdict(shorter, SIGV4_INVALID, SIG_MISMATCH);
	longer = xasprintf("%.*s0%s", (int)(strstr(ok, "Signature=") + 10 + 64 - ok), ok,
			   strstr(ok, "Signature=") + 10 + 64);
	ecs_verdict(longer, SIGV4_INVALID, SIG_MISMATCH);
}

/* ------------------------------------------------------- canonical forms */

static void expect_canonical(const char *target, const char *want_path, const char *want_query)
{
	cleanup_free char *text = xasprintf("GET %s HTTP/1.1\nHost:h\n\n", target);
	cleanup_sreq struct sreq *s = sreq_read(text);
	static const char auth[] = "AWS4-HMAC-SHA256 Credential=k/20150830/r/s/aws4_request, "
				   "SignedHeaders=host, Signature=00";
	struct sigv4_auth a;
	struct sigv4_result res;
	cleanup_free char *creq = NULL;
	cleanup_free char *want = NULL;

	assert_int_equal(sigv4_parse_authorization(auth, strlen(auth), &a, &res), 0);
	assert_int_equal(sigv4_canonical_request(&s->r, &a, "HASH", &creq, &res), 0);
	want = xasprintf("GET\n%s\n%s\nhost:h\n\nhost\nHASH", want_path, want_query);
	if (strcmp(creq, want) != 0)
		fail_msg("%s:\n%s\n--- expected\n%s", target, creq, want);
}

static void test_canonical_path(void **state)
{
	(void)state;
	expect_canonical("/", "/", "");
	expect_canonical("/a/./b/../c//d/", "/a/c/d/", "");
	expect_canonical("/..", "/", "");
	expect_canonical("/../../a", "/a", "");
	expect_canonical("/a/..", "/", "");
	expect_canonical("/a/b/..", "/a", "");
	expect_canonical("/a/b/../", "/a/", "");
	expect_canonical("//", "/", "");
	expect_canonical("/a//", "/a/", "");
	expect_canonical("/./", "/", "");
	expect_canonical("/.a/..b/...", "/.a/..b/...", "");
	/* encoded again: what the client escaped is escaped once more */
	expect_canonical("/%20", "/%2520", "");
	expect_canonical("/%2E%2E/x", "/%252E%252E/x", "");   /* not a dot segment */
	expect_canonical("/a:b@c!$'()*+,;=", "/a%3Ab%40c%21%24%27%28%29%2A%2B%2C%3B%3D", "");
	expect_canonical("/-_.~AZaz09", "/-_.~AZaz09", "");
}

static void test_canonical_query(void **state)
{
	(void)state;
	expect_canonical("/?", "/", "");
	expect_canonical("/?b=2&a=1&a=0", "/", "a=0&a=1&b=2");
	expect_canonical("/?a", "/", "a=");
	expect_canonical("/?a=", "/", "a=");
	expect_canonical("/?x=%7e&y=%7E", "/", "x=~&y=~");
	expect_canonical("/?x=a+b", "/", "x=a%2Bb");
	expect_canonical("/?x=%20", "/", "x=%20");
	expect_canonical("/?x=%zz", "/", "x=%25zz");
	expect_canonical("/?k=%", "/", "k=%25");
	expect_canonical("/?k=%4", "/", "k=%254");
	expect_canonical("/?&&a=1&", "/", "a=1");
	expect_canonical("/?a=b=c", "/", "a=b%3Dc");
	expect_canonical("/?a=1&A=1&_=1&-=1", "/", "-=1&A=1&_=1&a=1");
	expect_canonical("/?x=%e1%88%b4", "/", "x=%E1%88%B4");
	expect_canonical("/?%41=%42", "/", "A=B");
	expect_canonical("/p?q=/&r=?", "/p", "q=%2F&r=%3F");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suite_canonical),
		cmocka_unit_test(test_suite_through_parser),
		cmocka_unit_test(test_suite_tampered),
		cmocka_unit_test(test_botocore_vector),
		cmocka_unit_test(test_authorization_parse),
		cmocka_unit_test(test_ecs_request),
		cmocka_unit_test(test_missing_and_duplicates),
		cmocka_unit_test(test_bad_dates),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_signed_headers),
		cmocka_unit_test(test_payload_hash),
		cmocka_unit_test(test_signature_form),
		cmocka_unit_test(test_canonical_path),
		cmocka_unit_test(test_canonical_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
