using System.Text.Json.Nodes;

namespace UnifiedLlm.Tests.Support;

/// <summary>What the official openai npm client got from one call (tests/tools/openai-client/client.mjs).</summary>
/// <param name="Ok">The SDK returned rather than threw.</param>
/// <param name="Status">The HTTP status the SDK saw (null when it never got one).</param>
/// <param name="Headers">The response headers, lower-cased (empty on an error).</param>
/// <param name="Result">The SDK's parsed object, or <c>{ "events": [...] }</c> for a stream.</param>
/// <param name="Error">The error object the SDK parsed from an error answer.</param>
/// <param name="Message">The SDK's error message.</param>
public sealed record OpenAiNodeResult(bool Ok, int? Status, JsonObject Headers, JsonNode? Result, JsonNode? Error, string? Message)
{
    public JsonArray Events => Result?["events"]?.AsArray() ?? throw new InvalidOperationException($"not a stream result: {this}");

    public override string ToString() => $"ok={Ok} status={Status} message={Message} error={Error?.ToJsonString()} result={Result?.ToJsonString()}";
}

/// <summary>
/// Drives the official openai npm client (pinned in tests/tools/openai-client/package.json) so a test checks what a
/// stock SDK parses from ullmd. tests/run.sh installs Node and the package; a direct test run installs the package on
/// first use with <c>npm ci</c>.
/// </summary>
public static class OpenAiNodeClient
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);
    private static bool installed;

    public static string Directory => RepoPaths.InRepo("tests", "tools", "openai-client");

    /// <summary>Runs <paramref name="op"/> (chat, completions, embeddings, responses, responses.retrieve, responses.delete, responses.input_items).</summary>
    /// <param name="environment">Added to node's environment (NODE_EXTRA_CA_CERTS for a test CA).</param>
    /// <param name="clientCertificate">PEM files the SDK's https agent presents as a TLS client certificate.</param>
    public static async Task<OpenAiNodeResult> CallAsync(
        Uri baseUrl, string op, JsonNode? parameters = null, string? apiKey = null, string? path = null, TimeSpan? timeout = null,
        IDictionary<string, string>? environment = null, (string Certificate, string Key)? clientCertificate = null)
    {
        await EnsureInstalledAsync();
        var input = new JsonObject
        {
            ["baseURL"] = baseUrl.AbsoluteUri.TrimEnd('/'),
            ["apiKey"] = apiKey ?? "none",
            ["op"] = op,
            ["params"] = parameters?.DeepClone(),
            ["path"] = path,
            ["clientCertificate"] = clientCertificate is { } tls ? new JsonObject { ["cert"] = tls.Certificate, ["key"] = tls.Key } : null,
        };
        var run = await ProcessRunner.RunAsync(
            "node", [Path.Combine(Directory, "client.mjs")], environment, timeout ?? TimeSpan.FromSeconds(150), input.ToJsonString());
        var line = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
            ?? throw new InvalidOperationException($"the openai client printed nothing: {run}");
        var output = JsonNode.Parse(line)!.AsObject();
        return new OpenAiNodeResult(
            output["ok"]!.GetValue<bool>(),
            output["status"]?.GetValue<int>(),
            output["headers"]?.AsObject() is { } headers ? (JsonObject)headers.DeepClone() : [],
            output["result"]?.DeepClone(),
            output["error"]?.DeepClone(),
            output["message"]?.GetValue<string>());
    }

    private static async Task EnsureInstalledAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (installed || System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "openai")))
            {
                installed = true;
                return;
            }

            var install = await ProcessRunner.RunAsync(
                "npm", ["ci", "--prefix", Directory, "--no-audit", "--no-fund"], timeout: TimeSpan.FromMinutes(5));
            if (install.ExitCode != 0)
            {
                throw new InvalidOperationException($"npm ci in {Directory} failed (tests/run.sh installs Node and npm): {install}");
            }

            installed = true;
        }
        finally
        {
            InstallGate.Release();
        }
    }
}
