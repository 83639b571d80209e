using System.Text;
using System.Text.Json;
using CsCheck;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// Generated request bodies for the fuzz tests: JSON shaped like OpenAI and Anthropic requests with every field free to
/// take any type and any depth, duplicate keys, byte-level damage of such bodies, and raw bytes.
/// </summary>
internal static class FuzzInputs
{
    private static readonly Gen<string> StringLiteral = Gen.Frequency<string>(
        (3, Gen.String[0, 12].Select(s => JsonSerializer.Serialize(s))),
        (2, Gen.OneOf(
            "\"\"", "\"tiny\"", "\"user\"", "\"assistant\"", "\"system\"", "\"text\"", "\"image\"", "\"tool_use\"", "\"tool_result\"",
            "\"base64\"", "\"url\"", "\"any\"", "\"tool\"", "\"none\"", "\"auto\"", "\"\\ud800\"", "\"\\u0000\"", "\"\\\"\"", "\"é😀\"",
            "\"provider/x\"", "\"a\\nb\"")));

    private static readonly Gen<string> Scalar = Gen.Frequency<string>(
        (3, StringLiteral),
        (2, Gen.OneOf("0", "-1", "16", "3.5", "1e400", "-0", "99999999999999999999999", "true", "false", "null")),
        (1, Gen.Int.Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))));

    private static readonly Gen<string> AnyKey = Gen.Frequency<string>(
        (3, Gen.OneOf("model", "messages", "stream", "stream_options", "include_usage", "prompt", "input", "role", "content", "type", "text", "system", "tools", "tool_choice", "max_tokens")),
        (1, StringLiteral.Select(s => s.Trim('"'))));

    public static Gen<string> Value(int depth) => depth == 0
        ? Scalar
        : Gen.Frequency<string>((3, Scalar), (1, ArrayOf(Value(depth - 1), 4)), (1, ObjectOf(Gen.Select(AnyKey, Value(depth - 1)), 4)));

    /// <summary>An OpenAI chat, completion or embedding body.</summary>
    public static Gen<byte[]> OpenAiBody { get; } = Damaged(ObjectOf(Gen.Frequency<(string Key, string Value)>(
        (4, Field("model", Gen.Frequency<string>((4, Gen.OneOf("\"tiny\"", "\"provider/x\"", "\"\"")), (1, Value(2))))),
        (4, Field("messages", Gen.Frequency<string>((3, ArrayOf(Message(Gen.Frequency<string>((3, StringLiteral), (1, Value(3)))), 3)), (1, Value(3))))),
        (2, Field("stream", Gen.Frequency<string>((3, Gen.OneOf("true", "false", "null")), (1, Value(1))))),
        (2, Field("stream_options", Gen.Frequency<string>(
            (3, Gen.OneOf("{\"include_usage\":true}", "{}", "null", "{\"x\":1}", "{\"x\":1,\"include_usage\":false}")),
            (1, ObjectOf(Gen.Select(Gen.OneOf("include_usage", "x"), Value(1)), 3)),
            (1, Value(2))))),
        (1, Field("prompt", Gen.Frequency<string>((2, Gen.OneOf("\"hi\"", "[\"a\",\"b\"]")), (1, Value(2))))),
        (1, Field("input", Gen.Frequency<string>((2, Gen.OneOf("\"hi\"", "[\"a\"]", "[[1,2]]")), (1, Value(2))))),
        (2, Gen.Select(AnyKey, Value(3)))), 7));

    /// <summary>An Anthropic Messages body.</summary>
    public static Gen<byte[]> AnthropicBody { get; } = Damaged(ObjectOf(Gen.Frequency<(string Key, string Value)>(
        (4, Field("model", Gen.Frequency<string>((4, Gen.OneOf("\"tiny\"", "\"provider/x\"")), (1, Value(2))))),
        (2, Field("max_tokens", Gen.Frequency<string>((3, Gen.Const("16")), (1, Value(1))))),
        (2, Field("system", Gen.Frequency<string>((2, StringLiteral), (2, ArrayOf(Block, 3)), (1, Value(2))))),
        (5, Field("messages", Gen.Frequency<string>((4, ArrayOf(Message(Gen.Frequency<string>((2, StringLiteral), (3, ArrayOf(Block, 3)), (1, Value(2)))), 3)), (1, Value(3))))),
        (1, Field("tools", Gen.Frequency<string>((2, ArrayOf(ObjectOf(Gen.Frequency<(string Key, string Value)>((1, Field("name", StringLiteral)), (1, Field("description", Value(1))), (1, Field("input_schema", Value(2)))), 3), 2)), (1, Value(2))))),
        (1, Field("tool_choice", Gen.Frequency<string>((2, ObjectOf(Gen.Frequency<(string Key, string Value)>((2, Field("type", Gen.Frequency<string>((3, StringLiteral), (1, Value(1))))), (1, Field("name", Value(1)))), 2)), (1, Value(1))))),
        (1, Field("stream", Gen.Frequency<string>((3, Gen.OneOf("true", "false")), (1, Value(1))))),
        (1, Field("stop_sequences", Value(2))),
        (1, Gen.Select(AnyKey, Value(2)))), 7));

    private static Gen<string> Block => ObjectOf(Gen.Frequency<(string Key, string Value)>(
        (4, Field("type", Gen.Frequency<string>((4, Gen.OneOf("\"text\"", "\"image\"", "\"tool_use\"", "\"tool_result\"")), (1, Value(1))))),
        (2, Field("text", Gen.Frequency<string>((3, StringLiteral), (1, Value(2))))),
        (1, Field("source", Gen.Frequency<string>(
            (2, Gen.OneOf("{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"AAAA\"}", "{\"type\":\"url\",\"url\":\"http://127.0.0.1/x.png\"}")),
            (1, ObjectOf(Gen.Select(Gen.OneOf("type", "url", "media_type", "data"), Value(1)), 3)),
            (1, Value(2))))),
        (1, Field("id", Value(1))),
        (1, Field("name", Value(1))),
        (1, Field("input", Value(2))),
        (1, Field("tool_use_id", Value(1))),
        (1, Field("content", Gen.Frequency<string>((2, StringLiteral), (2, ArrayOf(ObjectOf(Gen.Frequency<(string Key, string Value)>((1, Field("type", StringLiteral)), (2, Field("text", Value(1)))), 2), 3)), (1, Value(2)))))), 4);

    private static Gen<string> Message(Gen<string> content) => Gen.Frequency<string>(
        (5, ObjectOf(Gen.Frequency<(string Key, string Value)>(
            (3, Field("role", Gen.Frequency<string>((4, Gen.OneOf("\"user\"", "\"assistant\"", "\"system\"")), (1, Value(1))))),
            (3, Field("content", content)),
            (1, Gen.Select(AnyKey, Value(1)))), 3)),
        (1, Value(2)));

    private static Gen<(string Key, string Value)> Field(string key, Gen<string> value) => value.Select(v => (key, v));

    private static Gen<string> ArrayOf(Gen<string> item, int most) =>
        item.Array[0, most].Select(items => $"[{string.Join(",", items)}]");

    private static Gen<string> ObjectOf(Gen<(string Key, string Value)> field, int most) =>
        Gen.Select(field.Array[0, most], Gen.OneOf("", " ", "\n\t"), (fields, space) =>
            $"{{{space}{string.Join($",{space}", fields.Select(f => $"{JsonSerializer.Serialize(f.Key)}:{space}{f.Value}"))}{space}}}");

    /// <summary>Mostly the text as generated; else damaged at one to three bytes, nested past any depth limit, or random bytes.</summary>
    private static Gen<byte[]> Damaged(Gen<string> json) => Gen.Frequency<byte[]>(
        (6, json.Select(Encoding.UTF8.GetBytes)),
        (3, Gen.Select(json, Gen.Select(Gen.Int[0, int.MaxValue], Gen.Int[0, 2], Gen.Frequency<byte>((2, Gen.Byte), (3, Gen.OneOf("{}[]\",:\\ 0tfn\u00c3"u8.ToArray())))).Array[1, 3], Mutate)),
        (1, Gen.Select(json, Gen.Int[100, 300], (j, depth) => Encoding.UTF8.GetBytes($"{{\"model\":\"tiny\",\"messages\":{new string('[', depth)}{new string(']', depth)},\"x\":{j}}}"))),
        (1, Gen.Byte.Array[0, 64]));

    private static byte[] Mutate(string json, (int At, int Op, byte Byte)[] edits)
    {
        var bytes = Encoding.UTF8.GetBytes(json).ToList();
        foreach (var (at, op, b) in edits)
        {
            var i = at % (bytes.Count + 1);
            switch (op)
            {
                case 0 when i < bytes.Count:
                    bytes.RemoveAt(i);
                    break;
                case 1 when i < bytes.Count:
                    bytes[i] = b;
                    break;
                default:
                    bytes.Insert(i, b);
                    break;
            }
        }

        return [.. bytes];
    }
}
