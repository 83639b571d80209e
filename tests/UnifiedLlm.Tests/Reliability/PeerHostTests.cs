using System.Text.Json;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;
using LlamaServerBinary = UnifiedLlm.Tests.Models.LlamaServerBinary;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// Real ullmd hosts, each on a loopback address of its own (127.0.0.x) with the tiny model, peering over their TCP
/// listeners with API keys made on each other: where requests go, what happens when a peer stops, and how the hop header
/// stops a configured loop.
/// </summary>
public sealed class PeerHostTests
{
    [Fact(Timeout = 300_000)]
    public async Task Requests_reach_the_peer_where_the_model_is_loaded_and_move_to_the_next_when_it_stops()
    {
        var ct = TestContext.Current.CancellationToken;
        var (portB, portC) = (TestPki.FreePort(), TestPki.FreePort());
        await using var b = await TinyDaemon.StartAsync("ullm-peer-b", tcpListen: $"127.0.0.2:{portB}");
        if (b is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        // c-only: a model only C has, which A lists as C's.
        await using var c = (await TinyDaemon.StartAsync("ullm-peer-c", tcpListen: $"127.0.0.3:{portC}", beforeStart: dir =>
            File.AppendAllTextAsync(dir.File("config.toml"), $"\n[models.c-only]\nbackend = \"llamacpp\"\nsource = \"{dir.File("tiny.gguf")}\"\n", ct)))!;
        var (keyB, keyC) = (await KeyAsync(b, "host-a"), await KeyAsync(c, "host-a"));
        await using var a = (await TinyDaemon.StartAsync("ullm-peer-a", beforeStart: async dir =>
        {
            await File.WriteAllTextAsync(dir.File("b.key"), keyB, ct);
            await File.WriteAllTextAsync(dir.File("c.key"), keyC, ct);
            await File.AppendAllTextAsync(dir.File("config.toml"), PeerTable("b", $"127.0.0.2:{portB}", dir.File("b.key")) + PeerTable("c", $"127.0.0.3:{portC}", dir.File("c.key")), ct);
        }))!;

        await Task.WhenAll(b.LoadAsync(), c.LoadAsync());

        // What C reports to A, read as A reads it (A's key for C): its models with what is loaded and queued, its GPUs
        // (none on this machine) and its free host memory.
        using (var asA = new HttpClient { BaseAddress = new Uri($"http://127.0.0.3:{portC}/") })
        {
            asA.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", keyC);
            using var status = JsonDocument.Parse(await asA.GetStringAsync("ullm/peer/v1/status", ct));
            var root = status.RootElement;
            Assert.Equal(1, root.GetProperty("version").GetInt32());
            Assert.Equal(
                [("c-only", "llamacpp", false, 0), ("tiny", "llamacpp", true, 0)],
                root.GetProperty("models").EnumerateArray().Select(m => (m.GetProperty("name").GetString(), m.GetProperty("backend").GetString(), m.GetProperty("loaded").GetBoolean(), m.GetProperty("queue_depth").GetInt32())));
            Assert.Equal(0, root.GetProperty("gpus").GetArrayLength());
            var available = root.GetProperty("host_available_bytes").GetUInt64();
            Assert.InRange(available, 1UL, MemTotalBytes());
        }

        using var client = a.Client();
        var models = await WaitForModelsAsync(client, m => PeersOf(m, "tiny").Count(p => p.GetProperty("loaded").GetBoolean()) == 2);
        var cOnly = Assert.Single(models.EnumerateArray(), m => m.GetProperty("id").GetString() == "c-only").GetProperty("ullm");
        Assert.Equal("peer", cOnly.GetProperty("kind").GetString());
        Assert.Equal("c", Assert.Single(cOnly.GetProperty("peers").EnumerateArray()).GetProperty("peer").GetString());

        // Loaded on B and C, not here: served by a peer (the same queue: by name, B), under one id on both hosts.
        var servedByB = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            servedByB.Add(await ChatAsync(client, stream: i == 1));
        }

        Assert.Empty(a.Backends());
        var aRows = await RowsAsync(a, servedByB);
        Assert.All(servedByB, id => Assert.Equal("tiny@b", aRows[id].GetProperty("target").GetString()));
        var bRows = await RowsAsync(b, servedByB);
        Assert.All(servedByB, id => Assert.Equal("tiny", bRows[id].GetProperty("target").GetString()));
        Assert.Empty(await RowsAsync(c, servedByB));

        // B stops: every request is still answered, by C, the first ones after B's refused connection, before any byte.
        using (var stopped = System.Diagnostics.Process.GetProcessById(b.Process.Pid))
        {
            stopped.Kill(entireProcessTree: true);
            await stopped.WaitForExitAsync(ct);
        }
        var afterStop = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            afterStop.Add(await ChatAsync(client, stream: i % 2 == 0));
        }

        aRows = await RowsAsync(a, afterStop);
        Assert.All(afterStop, id =>
        {
            Assert.Equal("tiny@c", aRows[id].GetProperty("target").GetString());
            // Until a status read finds B gone, B is tried first: it refuses the connection, or, once it has refused
            // enough of them, its breaker is open and it is skipped without a try.
            var path = aRows[id].GetProperty("fallbackPath").EnumerateArray().Select(p => p.GetString()).ToList();
            Assert.True(path is ["tiny@c"] or ["tiny@b (502)", "tiny@c"] or ["tiny@b (breaker open)", "tiny@c"], string.Join(", ", path));
        });
        var cRows = await RowsAsync(c, afterStop);
        Assert.Equal(afterStop.Order(), cRows.Keys.Order());
        Assert.Empty(a.Backends());

        // A's next read of B's status fails: B is listed as not answering, with what it last reported kept.
        var silent = PeersOf(await WaitForModelsAsync(client, m => PeersOf(m, "tiny").Any(p => p.GetProperty("peer").GetString() == "b" && !p.GetProperty("answering").GetBoolean())), "tiny")
            .Single(p => p.GetProperty("peer").GetString() == "b");
        Assert.True(silent.GetProperty("loaded").GetBoolean(), silent.ToString());
    }

    [Fact(Timeout = 300_000)]
    public async Task A_peer_that_reports_a_model_but_answers_404_for_it_falls_back_to_the_next_before_the_first_byte()
    {
        var ct = TestContext.Current.CancellationToken;
        var (portB, portC) = (TestPki.FreePort(), TestPki.FreePort());
        await using var b = await TinyDaemon.StartAsync("ullm-peer404-b", tcpListen: $"127.0.0.2:{portB}");
        if (b is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        await using var c = (await TinyDaemon.StartAsync("ullm-peer404-c", tcpListen: $"127.0.0.3:{portC}"))!;
        var (keyB, keyC) = (await KeyAsync(b, "host-a"), await KeyAsync(c, "host-a"));
        // A reads B's status once a minute: what it knows of B stays as it was for the whole test.
        await using var a = (await TinyDaemon.StartAsync("ullm-peer404-a", beforeStart: async dir =>
        {
            await File.WriteAllTextAsync(dir.File("b.key"), keyB, ct);
            await File.WriteAllTextAsync(dir.File("c.key"), keyC, ct);
            await File.AppendAllTextAsync(dir.File("config.toml"), PeerTable("b", $"127.0.0.2:{portB}", dir.File("b.key"), 60) + PeerTable("c", $"127.0.0.3:{portC}", dir.File("c.key")), ct);
        }))!;

        await Task.WhenAll(b.LoadAsync(), c.LoadAsync());
        using var client = a.Client();
        await WaitForModelsAsync(client, m => PeersOf(m, "tiny").Count(p => p.GetProperty("loaded").GetBoolean()) == 2);
        var before = await ChatAsync(client, stream: false);
        Assert.Equal("tiny@b", (await RowsAsync(a, [before]))[before].GetProperty("target").GetString());

        // B's config drops the model between A's reads of its status: B now answers 404 for it, A still lists it on B.
        var config = await File.ReadAllTextAsync(b.Paths.ConfigFile, ct);
        await File.WriteAllTextAsync(b.Paths.ConfigFile, config.Replace("[models.tiny]", "[models.renamed]", StringComparison.Ordinal), ct);
        var reload = await b.Process.CtlAsync("reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        using (var direct = new HttpClient { BaseAddress = new Uri($"http://127.0.0.2:{portB}/") })
        {
            direct.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", keyB);
            using var refused = await direct.SendAsync(TinyDaemon.Chat(4, stream: false), ct);
            Assert.Equal(404, (int)refused.StatusCode);
        }

        Assert.Contains(PeersOf(await WaitForModelsAsync(client, _ => true), "tiny"), p => p.GetProperty("peer").GetString() == "b");

        // Every request, streamed or not, is answered in full by C after B's 404, which reached no client.
        var after = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            after.Add(await ChatAsync(client, stream: i % 2 == 0));
        }

        var aRows = await RowsAsync(a, after);
        Assert.All(after, id =>
        {
            Assert.Equal("tiny@c", aRows[id].GetProperty("target").GetString());
            Assert.Equal(["tiny@b (404)", "tiny@c"], aRows[id].GetProperty("fallbackPath").EnumerateArray().Select(p => p.GetString()));
        });
        Assert.Equal(after.Order(), (await RowsAsync(c, after)).Keys.Order());
    }

    [Fact(Timeout = 180_000)]
    public async Task A_peer_that_stops_answering_trips_its_breaker_after_the_configured_failures()
    {
        var ct = TestContext.Current.CancellationToken;
        var portB = TestPki.FreePort();
        await using var b = await TinyDaemon.StartAsync("ullm-peerbrk-b", tcpListen: $"127.0.0.6:{portB}");
        if (b is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var keyB = await KeyAsync(b, "host-a");
        await b.LoadAsync();
        // A has no model of its own named tiny, and reads B's status once a minute: once B is gone, A still lists it as
        // answering with tiny loaded, so only B's breaker keeps requests off it.
        await using var a = (await TinyDaemon.StartAsync("ullm-peerbrk-a", extra: "[router]\nbreaker_minimum_requests = 2\n", beforeStart: async dir =>
        {
            var config = await File.ReadAllTextAsync(dir.File("config.toml"), ct);
            await File.WriteAllTextAsync(dir.File("config.toml"), config.Replace("[models.tiny]", "[models.own]", StringComparison.Ordinal), ct);
            await File.WriteAllTextAsync(dir.File("b.key"), keyB, ct);
            await File.AppendAllTextAsync(dir.File("config.toml"), PeerTable("b", $"127.0.0.6:{portB}", dir.File("b.key"), 60), ct);
        }))!;
        using var client = a.Client();
        await WaitForModelsAsync(client, m => PeersOf(m, "tiny").Any(p => p.GetProperty("loaded").GetBoolean()));

        using (var stopped = System.Diagnostics.Process.GetProcessById(b.Process.Pid))
        {
            stopped.Kill(entireProcessTree: true);
            await stopped.WaitForExitAsync(ct);
        }

        // Two refused connections (the configured minimum, every one failed), then the breaker is open: B is not tried.
        var paths = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var (status, body, response) = await Http.SendAsync(client, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
            Assert.True(status >= 500, body.ToString());
            var row = Assert.Single(await FailedRowsAsync(a, response.Headers.GetValues("x-request-id").Single()));
            paths.Add(string.Join(", ", row.GetProperty("fallbackPath").EnumerateArray().Select(p => p.GetString())));
        }

        Assert.Equal(["tiny@b (502)", "tiny@b (502)", "tiny@b (breaker open)"], paths);
        using var metrics = GatewayHost.UnixClient(a.Paths.OpenAiSocket);
        Assert.Contains("ullm_breaker_state{upstream=\"peer@b\"} 2", await metrics.GetStringAsync("/metrics", ct), StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task The_hop_header_stops_a_configured_loop_with_a_clear_error()
    {
        var ct = TestContext.Current.CancellationToken;
        var (portA, portB) = (TestPki.FreePort(), TestPki.FreePort());
        // 'broken' is configured on both hosts and loads on neither: each would hand it to the other.
        Task Broken(TempDirectory dir) => Task.WhenAll(
            File.WriteAllBytesAsync(dir.File("broken.gguf"), "not a GGUF file"u8.ToArray(), ct),
            File.AppendAllTextAsync(dir.File("config.toml"), $"\n[models.broken]\nbackend = \"llamacpp\"\nsource = \"{dir.File("broken.gguf")}\"\n", ct));
        await using var a = await TinyDaemon.StartAsync("ullm-loop-a", tcpListen: $"127.0.0.4:{portA}", beforeStart: Broken);
        if (a is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        await using var b = (await TinyDaemon.StartAsync("ullm-loop-b", tcpListen: $"127.0.0.5:{portB}", beforeStart: Broken))!;
        // The status a peer reads needs a key on TCP.
        using (var tcp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.5:{portB}/") })
        {
            Assert.Equal(401, (int)(await tcp.GetAsync("ullm/peer/v1/status", ct)).StatusCode);
        }

        await PeerAsync(a, "b", $"127.0.0.5:{portB}", await KeyAsync(b, "host-a"));
        await PeerAsync(b, "a", $"127.0.0.4:{portA}", await KeyAsync(a, "host-b"));
        using var client = a.Client();
        await WaitForModelsAsync(client, m => PeersOf(m, "broken").Any());
        using (var bClient = b.Client())
        {
            await WaitForModelsAsync(bClient, m => PeersOf(m, "broken").Any());
        }

        // A fails, hands it to B once; B fails and, the request being marked, does not hand it back.
        var (status, body, response) = await Http.SendAsync(client, Http.Post("/v1/chat/completions", Http.Chat("broken")));
        Assert.True(status >= 500, body.ToString());
        Assert.Contains("never forwarded again", Http.ErrorMessage(body), StringComparison.Ordinal);
        var id = response.Headers.GetValues("x-request-id").Single();
        var path = Assert.Single(await FailedRowsAsync(a, id)).GetProperty("fallbackPath").EnumerateArray().Select(p => p.GetString()!).ToList();
        Assert.Equal(["broken", "broken@b"], path.Select(p => p.Split(' ')[0]));
        Assert.Single(await FailedRowsAsync(b, id));

        // A request that arrives marked is served here or not at all, and keeps the id it came with.
        var marked = "req_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
        var request = Http.Post("/v1/chat/completions", Http.Chat("broken"));
        request.Headers.Add("x-ullm-hop", "1");
        request.Headers.Add("x-request-id", marked);
        (status, body, response) = await Http.SendAsync(client, request);
        Assert.True(status >= 500, body.ToString());
        Assert.Equal(marked, response.Headers.GetValues("x-request-id").Single());
        var row = Assert.Single(await FailedRowsAsync(a, marked));
        Assert.Equal(["broken"], row.GetProperty("fallbackPath").EnumerateArray().Select(p => p.GetString()!.Split(' ')[0]));
        Assert.DoesNotContain((await b.AuditAsync()).EnumerateArray(), r => r.GetProperty("requestId").GetString() == marked);

        // And a marked request for a model only a peer has is refused here, not forwarded.
        request = Http.Post("/v1/chat/completions", Http.Chat("only-on-b"));
        request.Headers.Add("x-ullm-hop", "1");
        (status, body, _) = await Http.SendAsync(client, request);
        Assert.Equal(404, status);
        Assert.Contains("never forwarded again", Http.ErrorMessage(body), StringComparison.Ordinal);
    }

    /// <summary>
    /// The audit rows with <paramref name="id"/>, once there is one: a failed request's row is written after its answer.
    /// A loop would have added its rows before the first host answered.
    /// </summary>
    private static async Task<List<JsonElement>> FailedRowsAsync(TinyDaemon daemon, string id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var rows = (await daemon.AuditAsync()).EnumerateArray().Where(r => r.GetProperty("requestId").GetString() == id).ToList();
            if (rows.Count > 0 || DateTime.UtcNow > deadline)
            {
                return rows;
            }

            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    private static string PeerTable(string name, string address, string keyFile, double pollSeconds = 0.5) =>
        $"\n[peers.{name}]\nurl = \"http://{address}\"\napi_key_file = \"{keyFile}\"\npoll_interval_seconds = {pollSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}\n";

    /// <summary>Makes <paramref name="host"/> a peer of <paramref name="daemon"/> by a config reload, its key in a file.</summary>
    private static async Task PeerAsync(TinyDaemon daemon, string name, string address, string key)
    {
        var keyFile = daemon.Dir.Write($"{name}.key", key);
        await File.AppendAllTextAsync(daemon.Paths.ConfigFile, PeerTable(name, address, keyFile), TestContext.Current.CancellationToken);
        var reload = await daemon.Process.CtlAsync("reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
    }

    private static ulong MemTotalBytes() =>
        ulong.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;

    private static async Task<string> KeyAsync(TinyDaemon daemon, string name)
    {
        var created = await daemon.Process.CtlAsync("keys", "create", "--name", name, "--json");
        Assert.True(created.ExitCode == 0, created.ToString());
        return JsonDocument.Parse(created.StandardOutput).RootElement.GetProperty("secret").GetString()!;
    }

    /// <summary>/v1/models once <paramref name="done"/> holds of its data (the peers are read every 0.5 s).</summary>
    private static async Task<JsonElement> WaitForModelsAsync(HttpClient client, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var (status, body, _) = await Http.SendAsync(client, new HttpRequestMessage(HttpMethod.Get, "/v1/models"));
            Assert.Equal(200, status);
            var data = body.GetProperty("data");
            if (done(data))
            {
                return data;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the peers were not seen as expected within 60 s: {data}");
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    private static IEnumerable<JsonElement> PeersOf(JsonElement data, string model) =>
        data.EnumerateArray().Where(m => m.GetProperty("id").GetString() == model)
            .SelectMany(m => m.GetProperty("ullm").TryGetProperty("peers", out var peers) ? peers.EnumerateArray().ToList() : []);

    /// <summary>A chat through <paramref name="client"/> that must succeed (streamed to its end marker); its request id.</summary>
    private static async Task<string> ChatAsync(HttpClient client, bool stream)
    {
        using var response = await client.SendAsync(TinyDaemon.Chat(4, stream), TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, text);
        Assert.True(!stream || text.Contains("data: [DONE]", StringComparison.Ordinal), text);
        return response.Headers.GetValues("x-request-id").Single();
    }

    /// <summary>The audit rows of <paramref name="daemon"/> with these request ids, by id.</summary>
    private static async Task<Dictionary<string, JsonElement>> RowsAsync(TinyDaemon daemon, IReadOnlyCollection<string> ids) =>
        (await daemon.AuditAsync()).EnumerateArray()
            .Where(r => ids.Contains(r.GetProperty("requestId").GetString()!))
            .ToDictionary(r => r.GetProperty("requestId").GetString()!, r => r, StringComparer.Ordinal);
}
