using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Http;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Tests.Gateway;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// The secret sweep (issue #21): upstreams that quote the provider key they received in their error bodies (and in
/// a successful answer's text), an OpenAI-compatible and an Anthropic provider, driven through a real ullmd on every
/// path with and without a key; then the key is searched for everywhere ullmd writes or answers.
/// </summary>
public sealed class SecretSweepTests
{
    private const string OpenAiSecret = "sk-sweep-5f2c9a1e7d3bOPENAISECRET";
    private const string AnthropicSecret = "sk-ant-sweep-91b7e2f4ANTHROPICSECRET";
    private static readonly string[] Needles = [OpenAiSecret, AnthropicSecret, "OPENAISECRET", "ANTHROPICSECRET", "5f2c9a1e7d3b", "91b7e2f4"];

    [Fact(Timeout = 240_000)]
    public async Task A_provider_key_echoed_by_its_upstream_is_found_nowhere_ullmd_writes_or_answers()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var openai = await FakeUpstream.StartAsync();
        openai.Handler = (c, body) => EchoAsync(c, body, c.Request.Headers.Authorization.ToString(), anthropic: false);
        await using var anthropic = await FakeUpstream.StartAsync();
        anthropic.Handler = (c, body) => EchoAsync(c, body, c.Request.Headers["x-api-key"].ToString(), anthropic: true);
        await using var daemon = await TinyDaemon.StartAsync("ullm-sweep", extra: $"""
            [security]
            anonymous_providers = true

            [providers.echo]
            kind = "openai"
            base_url = "{openai.BaseAddress.AbsoluteUri}v1"
            api_key_env = "SWEEP_OPENAI_KEY"
            models = ["fails", "answers"]

            [providers.claude]
            kind = "anthropic"
            base_url = "{anthropic.BaseAddress.AbsoluteUri}v1"
            api_key_env = "SWEEP_ANTHROPIC_KEY"
            models = ["fails", "answers"]
            """, environment: new Dictionary<string, string> { ["SWEEP_OPENAI_KEY"] = OpenAiSecret, ["SWEEP_ANTHROPIC_KEY"] = AnthropicSecret }) ?? DaemonFaultTests.Skipped();
        var backend = await daemon.LoadAsync();
        var created = await daemon.Process.CtlAsync("--json", "keys", "create", "--name", "sweep");
        var ullmKey = JsonDocument.Parse(created.StandardOutput).RootElement.GetProperty("secret").GetString()!;

        using var channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = UnifiedLlm.Ctl.UnixSocketHttp.Handler(daemon.Paths.AdminSocket), DisposeHttpClient = true });
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var events = new StringBuilder();
        var watch = Task.Run(async () =>
        {
            using var call = new UnifiedLlm.Admin.V1.Admin.AdminClient(channel).WatchEvents(new WatchEventsRequest(), cancellationToken: watching.Token);
            try
            {
                while (await call.ResponseStream.MoveNext(watching.Token))
                {
                    events.AppendLine(JsonFormatter.Default.Format(call.ResponseStream.Current));
                }
            }
            catch (Grpc.Core.RpcException) when (watching.IsCancellationRequested)
            {
            }
        }, ct);

        using var client = daemon.Client();
        var errorBodies = new StringBuilder();
        var successEchoes = 0;
        var requests = 0;
        foreach (var key in new[] { null, ullmKey })
        {
            foreach (var provider in new[] { "echo", "claude" })
            {
                foreach (var model in new[] { "fails", "answers" })
                {
                    foreach (var (path, body) in Bodies($"{provider}/{model}"))
                    {
                        using var response = await client.SendAsync(Http.Post(path, body, key), ct);
                        var text = await response.Content.ReadAsStringAsync(ct);
                        requests++;
                        // A stream's error event is an error body; the text the upstream answered is the client's answer.
                        var error = (int)response.StatusCode >= 400
                            ? text
                            : string.Join('\n', text.Split('\n').Where(l => l.Contains("\"error\"", StringComparison.Ordinal)));
                        errorBodies.AppendLine(error);
                        successEchoes += error.Length == 0 && Needles.Any(n => text.Contains(n, StringComparison.Ordinal)) ? 1 : 0;
                    }
                }
            }
        }

        var places = new Dictionary<string, string>
        {
            ["client error bodies"] = errorBodies.ToString(),
            ["/metrics"] = await client.GetStringAsync("/metrics", ct),
            ["backend environment"] = Encoding.UTF8.GetString(await File.ReadAllBytesAsync($"/proc/{backend.Pid}/environ", ct)),
        };
        foreach (var command in new[] { "status", "providers", "audit", "models", "keys list" })
        {
            var result = await daemon.Process.CtlAsync(["--json", .. command.Split(' ')]);
            Assert.True(result.ExitCode == 0, result.ToString());
            places[$"ullmctl --json {command}"] = result.StandardOutput + result.StandardError;
        }

        await watching.CancelAsync();
        await watch;
        places["ullmctl events (WatchEvents)"] = events.ToString();
        AddDatabase(places, daemon, "while running");
        Assert.Equal(0, await daemon.Process.StopAsync());
        AddDatabase(places, daemon, "after stop");
        places["ullmd log"] = daemon.Process.Output;

        var found = places.SelectMany(p => Needles.Where(n => p.Value.Contains(n, StringComparison.Ordinal)).Select(n => $"{n} in {p.Key}")).ToList();
        Assert.True(!openai.Requests.IsEmpty && !anthropic.Requests.IsEmpty);
        Assert.Contains("[redacted]", errorBodies.ToString(), StringComparison.Ordinal);
        Assert.Empty(found);
        SuiteRun.Record("secrets.requests", $"{requests}");
        SuiteRun.Record("secrets.places", $"{places.Count}");
        SuiteRun.Record("secrets.leaked", $"{found.Count}");
        SuiteRun.Record("secrets.success_echoes", $"{successEchoes}");
    }

    /// <summary>Every path: chat, stream, embeddings (OpenAI provider only), and Anthropic's /v1/messages plain and streamed.</summary>
    private static IEnumerable<(string Path, string Body)> Bodies(string model)
    {
        yield return ("/v1/chat/completions", Http.Chat(model));
        yield return ("/v1/chat/completions", Http.Chat(model, stream: true));
        if (model.StartsWith("echo/", StringComparison.Ordinal))
        {
            yield return ("/v1/embeddings", $$"""{"model":"{{model}}","input":"hi"}""");
        }

        yield return ("/v1/messages", $$"""{"model":"{{model}}","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""");
        yield return ("/v1/messages", $$"""{"model":"{{model}}","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}""");
    }

    /// <summary>"fails": a 401 quoting the key; "answers": a reply whose text quotes it, then (streamed) an error event quoting it.</summary>
    private static async Task EchoAsync(HttpContext c, JsonObject body, string sent, bool anthropic)
    {
        var model = FakeUpstream.Json(body).Contains("\"answers\"", StringComparison.Ordinal) ? "answers" : "fails";
        var quote = $"Incorrect API key provided: {sent} ({sent.Replace("Bearer ", "", StringComparison.Ordinal)})";
        var error = anthropic
            ? new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = "authentication_error", ["message"] = quote } }
            : new JsonObject { ["error"] = new JsonObject { ["message"] = quote, ["type"] = "invalid_request_error" } };
        if (model == "fails")
        {
            await FakeUpstream.WriteJsonAsync(c, error, 401);
            return;
        }

        var streamed = FakeUpstream.Json(body).Contains("\"stream\":true", StringComparison.Ordinal);
        if (anthropic)
        {
            if (!streamed)
            {
                await FakeUpstream.WriteJsonAsync(c, new JsonObject
                {
                    ["id"] = "msg_1",
                    ["type"] = "message",
                    ["role"] = "assistant",
                    ["model"] = "answers",
                    ["stop_reason"] = "end_turn",
                    ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = $"you sent {sent}" }),
                    ["usage"] = new JsonObject { ["input_tokens"] = 3, ["output_tokens"] = 3 },
                });
                return;
            }

            await FakeUpstream.StartSseAsync(c);
            await FakeUpstream.SendAsync(c, new JsonObject { ["type"] = "message_start", ["message"] = new JsonObject { ["id"] = "msg_1", ["role"] = "assistant", ["usage"] = new JsonObject { ["input_tokens"] = 3 } } }, "message_start");
            await FakeUpstream.SendAsync(c, error, "error");
            return;
        }

        if (c.Request.Path.Value!.EndsWith("/embeddings", StringComparison.Ordinal) || !streamed)
        {
            await FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion($"you sent {sent}"));
            return;
        }

        await FakeUpstream.StartSseAsync(c);
        await FakeUpstream.SendAsync(c, FakeUpstream.Chunk($"you sent {sent}"));
        await FakeUpstream.SendAsync(c, error);
    }

    private static void AddDatabase(Dictionary<string, string> places, TinyDaemon daemon, string when)
    {
        foreach (var file in Directory.GetFiles(daemon.Paths.DataDir, "ullm.db*"))
        {
            places[$"{Path.GetFileName(file)} {when}"] = Encoding.UTF8.GetString(File.ReadAllBytes(file));
        }
    }
}
