/* SPDX-License-Identifier: MIT */
/* Validation of sign-in and refresh answers: only a fully valid answer is an allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "api.h"

#define EMAIL "alice@example.com"

static enum api_outcome judge(long status, const char *body) {
        struct api_signin_result r;
        enum api_outcome o;

        api_parse_signin_response(status, body, body ? strlen(body) : 0, EMAIL, &r);
        o = r.outcome;
        assert_non_null(r.reason);
        if (o != API_ALLOW) {
                /* Nothing is handed out with a refusal. */
                assert_null(r.token);
                assert_null(r.roles);
        }
        api_signin_result_clear(&r);
        return o;
}

#define OK_BODY(status, data) \
        "{\"status\":" status ",\"message\":\"Success\",\"data\":" data ",\"errors\":[]}"
#define GOOD_DATA \
        "{\"token\":\"eyJ.x.y\",\"refreshToken\":\"r\",\"expiresIn\":3600," \
        "\"user\":{\"id\":\"u1\",\"email\":\"alice@example.com\",\"name\":\"Alice\",\"roles\":[\"dev\",\"admin\"]}}"

static void test_valid_answer(void **state) {
        struct api_signin_result r;
        const char *body = OK_BODY("200", GOOD_DATA);

        api_parse_signin_response(200, body, strlen(body), EMAIL, &r);
        assert_int_equal(r.outcome, API_ALLOW);
        assert_string_equal(r.token, "eyJ.x.y");
        assert_string_equal(r.refresh_token, "r");
        assert_int_equal(r.expires_in, 3600);
        assert_string_equal(r.user_id, "u1");
        assert_string_equal(r.name, "Alice");
        assert_int_equal(r.n_roles, 2);
        assert_string_equal(r.roles[0], "dev");
        assert_string_equal(r.roles[1], "admin");
        api_signin_result_clear(&r);
}

static void test_email_case_insensitive(void **state) {
        assert_int_equal(judge(200, OK_BODY("200",
                "{\"token\":\"t\",\"user\":{\"email\":\"Alice@Example.COM\",\"roles\":[]}}")), API_ALLOW);
}

static void test_http_status_classes(void **state) {
        assert_int_equal(judge(401, "{\"error\":\"Unauthorized\",\"message\":\"x\",\"code\":401}"), API_DENY);
        assert_int_equal(judge(403, ""), API_DENY);
        assert_int_equal(judge(400, "{}"), API_DENY);
        assert_int_equal(judge(404, ""), API_USER_UNKNOWN);
        assert_int_equal(judge(429, ""), API_UNAVAILABLE);
        assert_int_equal(judge(408, ""), API_UNAVAILABLE);
        assert_int_equal(judge(500, OK_BODY("200", GOOD_DATA)), API_UNAVAILABLE);
        assert_int_equal(judge(503, ""), API_UNAVAILABLE);
        assert_int_equal(judge(302, ""), API_UNAVAILABLE);
        assert_int_equal(judge(204, ""), API_UNAVAILABLE);
        assert_int_equal(judge(201, OK_BODY("200", GOOD_DATA)), API_UNAVAILABLE);
        assert_int_equal(judge(0, NULL), API_UNAVAILABLE);
}

static void test_200_saying_no(void **state) {
        assert_int_equal(judge(200, OK_BODY("401", GOOD_DATA)), API_DENY);
        assert_int_equal(judge(200, OK_BODY("403", GOOD_DATA)), API_DENY);
        assert_int_equal(judge(200, OK_BODY("500", GOOD_DATA)), API_UNAVAILABLE);
        assert_int_equal(judge(200, OK_BODY("\"200\"", GOOD_DATA)), API_UNAVAILABLE);
        assert_int_equal(judge(200, OK_BODY("200.0", GOOD_DATA)), API_UNAVAILABLE);
        assert_int_equal(judge(200, "{\"error\":\"Unauthorized\",\"code\":401}"), API_UNAVAILABLE);
}

static void test_malformed(void **state) {
        static const char *const bodies[] = {
                "",
                "not json",
                "[]",
                "null",
                OK_BODY("200", GOOD_DATA) "garbage",
                OK_BODY("200", GOOD_DATA) OK_BODY("200", GOOD_DATA),
                /* duplicate keys: the checked value and the used one could differ */
                "{\"status\":401,\"status\":200,\"data\":" GOOD_DATA "}",
                "{\"status\":200,\"data\":{\"token\":\"t\",\"token\":\"u\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[]}}}",
                OK_BODY("200", "null"),
                OK_BODY("200", "[]"),
                OK_BODY("200", "{\"token\":\"t\"}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":[]}"),
                OK_BODY("200", "{\"user\":{\"email\":\"" EMAIL "\",\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":42,\"user\":{\"email\":\"" EMAIL "\",\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":null,\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\"}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":\"admin\"}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[1]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[\"\"]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[\"a\\nb\"]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[\"a\\u0000b\"]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"expiresIn\":\"3600\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"expiresIn\":-1,\"user\":{\"email\":\"" EMAIL "\",\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"refreshToken\":7,\"user\":{\"email\":\"" EMAIL "\",\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"id\":[],\"email\":\"" EMAIL "\",\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"name\":5,\"email\":\"" EMAIL "\",\"roles\":[]}}"),
        };

        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                print_message("body %zu\n", i);
                assert_int_equal(judge(200, bodies[i]), API_UNAVAILABLE);
        }
}

static void test_wrong_email(void **state) {
        assert_int_equal(judge(200, OK_BODY("200",
                "{\"token\":\"t\",\"user\":{\"email\":\"mallory@example.com\",\"roles\":[\"admin\"]}}")),
                API_UNAVAILABLE);
        assert_int_equal(judge(200, OK_BODY("200",
                "{\"token\":\"t\",\"user\":{\"email\":\"alice@example.com.evil\",\"roles\":[]}}")),
                API_UNAVAILABLE);
        assert_int_equal(judge(200, OK_BODY("200",
                "{\"token\":\"t\",\"user\":{\"email\":\"alice@example.co\",\"roles\":[]}}")),
                API_UNAVAILABLE);
}

static void test_too_many_roles(void **state) {
        char body[8192];
        size_t off;

        snprintf(body, sizeof(body), "{\"status\":200,\"data\":{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[");
        off = strlen(body);
        for (int i = 0; i < 257; i++)
                off += (size_t) snprintf(body + off, sizeof(body) - off, "%s\"r\"", i ? "," : "");
        snprintf(body + off, sizeof(body) - off, "]}}}");
        assert_int_equal(judge(200, body), API_UNAVAILABLE);
}

static enum api_outcome judge_refresh(long status, const char *body) {
        struct api_signin_result r;
        enum api_outcome o;

        api_parse_refresh_response(status, body, body ? strlen(body) : 0, EMAIL, &r);
        o = r.outcome;
        if (o != API_ALLOW) {
                assert_null(r.token);
                assert_null(r.roles);
                assert_false(r.has_user);
        }
        api_signin_result_clear(&r);
        return o;
}

static void test_refresh_answers(void **state) {
        struct api_signin_result r;
        const char *ok = "{\"status\":200,\"data\":{\"token\":\"new\",\"refreshToken\":\"r2\",\"expiresIn\":60}}";

        api_parse_refresh_response(200, ok, strlen(ok), EMAIL, &r);
        assert_int_equal(r.outcome, API_ALLOW);
        assert_string_equal(r.token, "new");
        assert_string_equal(r.refresh_token, "r2");
        assert_int_equal(r.expires_in, 60);
        /* No data.user: a new token, but no word on the user. */
        assert_false(r.has_user);
        assert_null(r.roles);
        api_signin_result_clear(&r);

        assert_int_equal(judge_refresh(200, "{\"data\":{\"token\":\"t\"}}"), API_ALLOW);
        assert_int_equal(judge_refresh(401, ""), API_DENY);
        assert_int_equal(judge_refresh(403, ok), API_DENY);
        assert_int_equal(judge_refresh(500, ok), API_UNAVAILABLE);
        assert_int_equal(judge_refresh(200, "{\"status\":401,\"data\":{\"token\":\"t\"}}"), API_UNAVAILABLE);
        assert_int_equal(judge_refresh(200, "{\"data\":{\"token\":7}}"), API_UNAVAILABLE);
        assert_int_equal(judge_refresh(200, "{\"data\":{\"token\":\"\"}}"), API_UNAVAILABLE);
        assert_int_equal(judge_refresh(200, "{\"data\":{\"token\":\"t\",\"expiresIn\":\"1\"}}"), API_UNAVAILABLE);
        assert_int_equal(judge_refresh(200, "{\"data\":{\"token\":\"t\",\"refreshToken\":[]}}"), API_UNAVAILABLE);
        assert_int_equal(judge_refresh(200, "{\"data\":{\"token\":\"t\"}} x"), API_UNAVAILABLE);
        assert_int_equal(judge_refresh(200, "{\"data\":{\"token\":\"t\",\"token\":\"u\"}}"), API_UNAVAILABLE);
        assert_int_equal(judge_refresh(200, NULL), API_UNAVAILABLE);
}

/* The refresh endpoint is not documented; an answer of the sign-in
 * answer's shape carries the user and its roles, checked as a sign-in's. */
static void test_refresh_with_user(void **state) {
        struct api_signin_result r;
        const char *body = OK_BODY("200", GOOD_DATA);
        static const char *const bad_users[] = {
                OK_BODY("200", "{\"token\":\"t\",\"user\":[]}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\"}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":\"admin\"}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"" EMAIL "\",\"roles\":[\"\"]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"email\":\"mallory@example.com\",\"roles\":[]}}"),
                OK_BODY("200", "{\"token\":\"t\",\"user\":{\"id\":[],\"email\":\"" EMAIL "\",\"roles\":[]}}"),
        };

        api_parse_refresh_response(200, body, strlen(body), EMAIL, &r);
        assert_int_equal(r.outcome, API_ALLOW);
        assert_true(r.has_user);
        assert_string_equal(r.token, "eyJ.x.y");
        assert_string_equal(r.email, EMAIL);
        assert_int_equal(r.n_roles, 2);
        assert_string_equal(r.roles[0], "dev");
        assert_string_equal(r.roles[1], "admin");
        api_signin_result_clear(&r);

        /* Without an email to expect, the user is not read. */
        api_parse_refresh_response(200, body, strlen(body), NULL, &r);
        assert_int_equal(r.outcome, API_ALLOW);
        assert_false(r.has_user);
        api_signin_result_clear(&r);

        assert_int_equal(judge_refresh(200, OK_BODY("200", "{\"token\":\"t\",\"user\":null}")), API_ALLOW);
        for (size_t i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++) {
                print_message("user %zu\n", i);
                assert_int_equal(judge_refresh(200, bad_users[i]), API_UNAVAILABLE);
        }
        /* A 404 is no refusal: a refresh_path the API does not have must not
         * end anybody's access. */
        assert_int_equal(judge_refresh(404, ""), API_UNAVAILABLE);
}

static void test_outcome_names(void **state) {
        assert_string_equal(api_outcome_to_string(API_ALLOW), "allow");
        assert_string_equal(api_outcome_to_string(API_UNAVAILABLE), "unavailable");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_answer),
                cmocka_unit_test(test_email_case_insensitive),
                cmocka_unit_test(test_http_status_classes),
                cmocka_unit_test(test_200_saying_no),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_wrong_email),
                cmocka_unit_test(test_too_many_roles),
                cmocka_unit_test(test_refresh_answers),
                cmocka_unit_test(test_refresh_with_user),
                cmocka_unit_test(test_outcome_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
