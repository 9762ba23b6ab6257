// Strict spec reader: defaults written back, exact error messages with JSON paths,
// unknown-key suggestions, command-line overrides and JSON syntax errors.
#include <catch2/catch.hpp>

#include "engine/spec_reader.h"
#include "kernels/common.h"

using l2o::InputError;
using l2o::SpecNode;
using nlohmann::json;

TEST_CASE("spec reader returns values and writes defaults back", "[spec]") {
  json j = json::parse(R"({"training": {"lr": 0.01, "epochs": 7}})");
  SpecNode root(j);
  SpecNode tr = root.child("training");
  CHECK(tr.path() == "$.training");
  CHECK(tr.number("lr", 1e-3, 1e-12, 1) == 0.01);
  CHECK(tr.integer("epochs", 100, 1) == 7);
  CHECK(tr.integer("unroll", 20, 1) == 20);
  CHECK(tr.boolean("imitation", false) == false);
  CHECK(tr.string("name", "dm") == "dm");
  CHECK(tr.choice("optimizer", "adam", {"adam", "sgd"}) == "adam");
  CHECK(tr.int_list("stages", {100, 200}, 1, 10000) == std::vector<int64_t>{100, 200});
  CHECK(tr.number_list("betas", {0.9, 0.999}, 0, 1) == std::vector<double>{0.9, 0.999});
  SpecNode lstm = root.child("learner").child("lstm");
  CHECK(lstm.path() == "$.learner.lstm");
  CHECK(lstm.integer("hidden", 20) == 20);
  tr.finish();
  lstm.finish();
  root.child("learner").finish();  // a second view of the same object shares the read keys
  root.finish();

  const json expect = json::parse(R"({
    "training": {"lr": 0.01, "epochs": 7, "unroll": 20, "imitation": false, "name": "dm",
                 "optimizer": "adam", "stages": [100, 200], "betas": [0.9, 0.999]},
    "learner": {"lstm": {"hidden": 20}}})");
  CHECK(j == expect);
}

TEST_CASE("spec reader error messages name the path", "[spec]") {
  json j = json::parse(R"({"training": {"lr": "abc", "zero": 0, "n": 1.5, "big": 1e3, "flag": 1,
                                        "type": "lstmm", "stages": [10, 0], "opt": [1]}})");
  SpecNode tr = SpecNode(j).child("training");

  REQUIRE_THROWS_AS(tr.number("lr", 1e-3), InputError);
  REQUIRE_THROWS_WITH(tr.number("lr", 1e-3), "$.training.lr: expected a number, got string \"abc\"");
  REQUIRE_THROWS_WITH(tr.number("zero", 1e-3, 1e-12, 1), "$.training.zero: 0 is out of range [1e-12, 1]");
  REQUIRE_THROWS_WITH(tr.number("zero", 0.5, 0.1, SpecNode::kInf), "$.training.zero: 0 is out of range [0.1, inf]");
  REQUIRE_THROWS_WITH(tr.number("missing"), "$.training: missing required key \"missing\"");
  REQUIRE_THROWS_WITH(tr.integer("missing"), "$.training: missing required key \"missing\"");
  REQUIRE_THROWS_WITH(tr.string("missing"), "$.training: missing required key \"missing\"");
  REQUIRE_THROWS_WITH(tr.integer("n", 1), "$.training.n: expected an integer, got number 1.5");
  CHECK(tr.integer("big", 1) == 1000);  // 1e3 is integral
  REQUIRE_THROWS_WITH(tr.integer("big", 1, 1, 100), "$.training.big: 1000 is out of range [1, 100]");
  REQUIRE_THROWS_WITH(tr.integer("zero", 1, 1), "$.training.zero: 0 is out of range [1, inf]");
  REQUIRE_THROWS_WITH(tr.boolean("flag", false), "$.training.flag: expected true or false, got number 1");
  REQUIRE_THROWS_WITH(tr.string("flag", "x"), "$.training.flag: expected a string, got number 1");
  REQUIRE_THROWS_WITH(tr.choice("type", "lstm", {"lstm", "rnnprop"}),
                      "$.training.type: \"lstmm\" is not one of \"lstm\", \"rnnprop\" (did you mean \"lstm\"?)");
  REQUIRE_THROWS_WITH(tr.int_list("stages", {}, 1, 100), "$.training.stages[1]: 0 is out of range [1, 100]");
  REQUIRE_THROWS_WITH(tr.int_list("lr", {}, 1, 100), "$.training.lr: expected an array of integers, got string \"abc\"");
  REQUIRE_THROWS_WITH(tr.child("opt"), "$.training.opt: expected an object, got array [1]");
  REQUIRE_THROWS_WITH(tr.children_array("zero"), "$.training.zero: expected an array of objects, got number 0");
}

TEST_CASE("spec reader rejects unknown keys with a suggestion", "[spec]") {
  json j = json::parse(R"({"training": {"epcohs": 5, "lr": 0.1}, "xyz": 1})");
  SpecNode root(j);
  SpecNode tr = root.child("training");
  tr.number("lr", 1e-3);
  tr.integer("epochs", 100);
  REQUIRE_THROWS_WITH(tr.finish(), "$.training.epcohs: unknown key (did you mean \"epochs\"?)");
  REQUIRE_THROWS_WITH(root.finish(), "$.xyz: unknown key");

  json k = json::parse(R"({"seedd": 1, "zzz": 2, "aaa": 3})");
  SpecNode n(k);
  n.integer("seed", 0);
  REQUIRE_THROWS_WITH(n.finish(), "$.aaa: unknown key; also unknown: \"seedd\", \"zzz\"");

  CHECK(l2o::edit_distance("epcohs", "epochs") == 1);  // transposition
  CHECK(l2o::edit_distance("kitten", "sitting") == 3);
  CHECK(l2o::edit_distance("", "abc") == 3);
}

TEST_CASE("spec reader arrays of objects carry indexed paths", "[spec]") {
  json j = json::parse(R"({"stages": [{"n": 100}, {"n": 0}, {"n": 5, "extra": 1}]})");
  SpecNode root(j);
  auto stages = root.children_array("stages");
  REQUIRE(stages.size() == 3);
  CHECK(stages[2].path() == "$.stages[2]");
  CHECK(stages[0].integer("n", 1, 1) == 100);
  stages[0].finish();
  REQUIRE_THROWS_WITH(stages[1].integer("n", 1, 1), "$.stages[1].n: 0 is out of range [1, inf]");
  stages[2].integer("n", 1, 1);
  REQUIRE_THROWS_WITH(stages[2].finish(), "$.stages[2].extra: unknown key");
  root.finish();

  json e = json::object();
  SpecNode r2(e);
  CHECK(r2.children_array("stages").empty());
  CHECK(e["stages"] == json::array());
  json bad = json::parse(R"({"stages": [3]})");
  REQUIRE_THROWS_WITH(SpecNode(bad).children_array("stages"), "$.stages[0]: expected an object, got number 3");
}

TEST_CASE("spec reader: an explicit null is an error, has() does not count as a read", "[spec]") {
  json j = json::parse(R"({"a": null, "b": 2})");
  SpecNode n(j);
  CHECK(!n.has("a"));
  CHECK(n.has("b"));
  CHECK(!n.has("c"));
  // null used to mean "the default" silently; a typo'd value must not pass unnoticed.
  REQUIRE_THROWS_WITH(n.number("a", 4.5), "$.a: null is not a value here (leave the key out for its default)");
  CHECK(n.number("c", 4.5) == 4.5);  // absent: the default, written back
  CHECK(j["c"] == 4.5);
  j.erase("c");
  REQUIRE_THROWS_WITH(n.finish(), "$.b: unknown key");
  REQUIRE_THROWS_WITH(SpecNode(j["b"], "$.b"), "$.b: expected an object, got number 2");
}

TEST_CASE("command-line overrides", "[spec]") {
  json j = json::parse(R"({"training": {"lr": 0.01, "stages": [100, 200, 300]}, "name": "x"})");
  l2o::apply_override(j, "training.lr=1e-4");
  CHECK(j["training"]["lr"] == 1e-4);
  l2o::apply_override(j, "training.imitation=true");
  CHECK(j["training"]["imitation"] == true);
  l2o::apply_override(j, "name=mnist run");
  CHECK(j["name"] == "mnist run");
  l2o::apply_override(j, "tag=\"42\"");  // quoted: stays a string
  CHECK(j["tag"] == "42");
  l2o::apply_override(j, "seed=42");
  CHECK(j["seed"] == 42);
  l2o::apply_override(j, "learner.lstm.hidden=40");  // intermediate objects created
  CHECK(j["learner"]["lstm"]["hidden"] == 40);
  l2o::apply_override(j, "training.stages.2=500");
  CHECK(j["training"]["stages"] == json({100, 200, 500}));
  l2o::apply_override(j, "optimizee.sizes=[20, 10]");
  CHECK(j["optimizee"]["sizes"] == json({20, 10}));
  l2o::apply_override(j, "note=");
  CHECK(j["note"] == "");

  REQUIRE_THROWS_AS(l2o::apply_override(j, "a.b"), InputError);
  REQUIRE_THROWS_WITH(l2o::apply_override(j, "a.b"), "--set a.b: expected KEY=VALUE");
  REQUIRE_THROWS_WITH(l2o::apply_override(j, "=3"), "--set =3: expected KEY=VALUE");
  REQUIRE_THROWS_WITH(l2o::apply_override(j, "training.stages.3=1"),
                      "--set training.stages.3=1: index 3 is out of range for $.training.stages (3 elements)");
  REQUIRE_THROWS_WITH(l2o::apply_override(j, "training.stages.x=1"), Catch::Contains("is not an index"));
  REQUIRE_THROWS_WITH(l2o::apply_override(j, "seed.x=1"),
                      "--set seed.x=1: $.seed is number 42, not an object");
  REQUIRE_THROWS_WITH(l2o::apply_override(j, "a..b=1"), Catch::Contains("empty component"));

  json empty;  // a null document becomes an object
  l2o::apply_override(empty, "a=1");
  CHECK(empty == json({{"a", 1}}));
}

TEST_CASE("JSON syntax errors give line and column", "[spec]") {
  const std::string text = "{\n  \"a\": 1,\n  \"b\": ,\n}\n";
  REQUIRE_THROWS_AS(l2o::parse_json_text(text, "spec.json"), InputError);
  REQUIRE_THROWS_WITH(l2o::parse_json_text(text, "spec.json"),
                      Catch::StartsWith("spec.json: invalid JSON at line 3, column 8: ") &&
                          Catch::Contains("unexpected ','") && !Catch::Contains("json.exception"));
  REQUIRE_THROWS_WITH(l2o::parse_json_text("", "e.json"), Catch::StartsWith("e.json: invalid JSON at line 1"));
  REQUIRE_THROWS_WITH(l2o::parse_json_text("{\"a\": 1} x", "t.json"),
                      Catch::StartsWith("t.json: invalid JSON at line 1, column 10"));

  CHECK(l2o::parse_json_text(R"({"a": [1, {"b": 2}]})", "ok.json")["a"][1]["b"] == 2);
}

TEST_CASE("duplicate keys are rejected with their path", "[spec]") {
  REQUIRE_THROWS_WITH(l2o::parse_json_text(R"({"training": {"lr": 1, "lr": 2}})", "spec.json"),
                      "spec.json: duplicate key \"lr\" in $.training");
  REQUIRE_THROWS_WITH(l2o::parse_json_text(R"({"s": [{"n": 1}, {"n": 1, "n": 2}]})", "spec.json"),
                      "spec.json: duplicate key \"n\" in $.s[1]");
  // Same key in sibling objects is fine.
  CHECK(l2o::parse_json_text(R"({"a": {"n": 1}, "b": {"n": 2}, "c": [[1, 2], {"n": 3}]})", "ok.json")["c"][1]["n"] == 3);
}

TEST_CASE("clip_text and dump_clipped keep messages short", "[spec]") {
  CHECK(l2o::clip_text("short") == "short");
  CHECK(l2o::clip_text(std::string(80, 'a')) == std::string(80, 'a'));
  CHECK(l2o::clip_text(std::string(81, 'a')) == std::string(77, 'a') + "...");
  CHECK(l2o::clip_text("abcdefgh", 6) == "abc...");
  // Never splits a UTF-8 sequence: "é" is two bytes.
  CHECK(l2o::clip_text("ab\xc3\xa9zzzz", 6) == "ab...");
  CHECK(l2o::clip_text("ab\xc3\xa9z") == "ab\xc3\xa9z");  // valid UTF-8 passes through
  // Control characters and bytes that are not UTF-8 are escaped: a message stays one readable line.
  CHECK(l2o::clip_text("a\nb") == "a\\x0ab");
  CHECK(l2o::clip_text("x\xff\xfey") == "x\\xff\\xfey");
  CHECK(l2o::clip_text("\xc3z") == "\\xc3z");  // a truncated sequence

  CHECK(l2o::dump_clipped(json({1, 2, 3})) == "[1,2,3]");
  CHECK(l2o::dump_clipped(json({{"a", "x"}})) == "{\"a\":\"x\"}");
  json big = json::array();
  for (int i = 0; i < 100000; ++i) big.push_back(i);
  const std::string d = l2o::dump_clipped(big, 20);
  CHECK(d == "[0,1,2,3,4,5,6,7,...");
  CHECK(l2o::dump_clipped(json(std::string(1 << 20, 's'))).size() == 80);
  CHECK(l2o::dump_clipped(nlohmann::ordered_json({{"z", 1}, {"a", 2}})) == "{\"z\":1,\"a\":2}");
}

TEST_CASE("check_json_limits scans size, depth and NUL without parsing", "[spec]") {
  const std::string ok = R"({"a": [[1], {"b": "[[[[\"]]"}]})";
  CHECK_NOTHROW(l2o::check_json_limits(ok.data(), ok.size(), "ok", 100, 3));
  REQUIRE_THROWS_WITH(l2o::check_json_limits(ok.data(), ok.size(), "x", 100, 2),
                      "x: JSON nested deeper than 2 levels at line 1, column 8");
  REQUIRE_THROWS_WITH(l2o::check_json_limits(ok.data(), ok.size(), "x", 10, 64),
                      "x: JSON text is " + std::to_string(ok.size()) + " bytes, over the 10 bytes limit");
  const std::string two_lines = "{\n  \"a\": [[[]]]}";
  REQUIRE_THROWS_WITH(l2o::check_json_limits(two_lines.data(), two_lines.size(), "x", 100, 3),
                      "x: JSON nested deeper than 3 levels at line 2, column 10");
  // Closing brackets beyond the opening ones are the parser's to report.
  const std::string unbalanced = "]]]][";
  CHECK_NOTHROW(l2o::check_json_limits(unbalanced.data(), unbalanced.size(), "x", 100, 1));
  // The size limit is the caller's: checkpoint metadata may use a smaller one.
  REQUIRE_THROWS_WITH(l2o::parse_json_text("[1, 2, 3]", "m", 4), "m: JSON text is 9 bytes, over the 4 bytes limit");
}
