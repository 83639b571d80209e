using System.Collections;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>
/// What a fake was given, for tests to assert what ullmd sent: with FAKE_RECORD_FILE set, one JSON line per event is
/// appended to it — the start (mode, argv, the whole environment) and each native Ollama request (path and body).
/// </summary>
internal static class FakeRecord
{
    private static readonly Lock Gate = new();

    public static void Started(string mode, string[] args)
    {
        var environment = new JsonObject();
        foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            environment[(string)variable.Key] = (string?)variable.Value;
        }

        Append(new JsonObject
        {
            ["event"] = "start",
            ["mode"] = mode,
            ["pid"] = Environment.ProcessId,
            ["argv"] = new JsonArray([.. args.Select(a => (JsonNode)a)]),
            ["env"] = environment,
        });
    }

    public static void Request(string path, JsonNode? body) =>
        Append(new JsonObject { ["event"] = "request", ["path"] = path, ["body"] = body?.DeepClone() });

    private static void Append(JsonObject line)
    {
        if (Environment.GetEnvironmentVariable("FAKE_RECORD_FILE") is not { Length: > 0 } file)
        {
            return;
        }

        lock (Gate)
        {
            File.AppendAllText(file, line.ToJsonString(new JsonSerializerOptions { WriteIndented = false }) + "\n");
        }
    }
}
