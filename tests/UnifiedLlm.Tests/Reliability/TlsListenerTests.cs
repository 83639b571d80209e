using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Models;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// Issue #21: TLS on the TCP listener of a real ullmd, with certificates made by openssl, seen by real clients (.NET's
/// HttpClient, curl, OpenAI's .NET library, the openai npm client), reloaded without a restart, and client certificates
/// standing for API keys.
/// </summary>
public sealed class TlsListenerTests : IDisposable
{
    private const string TinyModel = """
        [models.tiny]
        backend = "llamacpp"
        source = "/models/tiny.gguf"
        """;

    private readonly TempDirectory dir = new("ullm-tls");

    public void Dispose() => dir.Dispose();

    [Fact(Timeout = 180_000)]
    public async Task Https_serves_real_clients_and_new_certificates_reach_new_connections_on_sighup_on_reload_and_on_file_change()
    {
        var ct = TestContext.Current.CancellationToken;
        var pki = await TestPki.CreateAsync(dir);
        var first = await pki.IssueServerAsync("server-1");
        var (liveCertificate, liveKey) = (dir.File("live/server.pem"), dir.File("live/server.key"));
        Install(first, liveCertificate, liveKey);
        var port = TestPki.FreePort();
        var paths = DaemonProcess.WriteConfig(dir, TinyModel, $"tls_certificate = \"{liveCertificate}\"\ntls_key = \"{liveKey}\"", tcpListen: $"127.0.0.1:{port}");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var address = new Uri($"https://127.0.0.1:{port}/");

        // .NET's HttpClient trusting only the test CA: HTTP/2 and HTTP/1.1 by ALPN, the served certificate is the file's.
        X509Certificate2? seen = null;
        using (var http = pki.Client(address, c => seen = c))
        {
            using var h2 = new HttpRequestMessage(HttpMethod.Get, "health") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var h2Response = await http.SendAsync(h2, ct);
            Assert.Equal(HttpStatusCode.OK, h2Response.StatusCode);
            Assert.Equal(HttpVersion.Version20, h2Response.Version);
            using var h1 = new HttpRequestMessage(HttpMethod.Get, "health") { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var h1Response = await http.SendAsync(h1, ct);
            Assert.Equal(HttpStatusCode.OK, h1Response.StatusCode);
            Assert.Equal(HttpVersion.Version11, h1Response.Version);
        }

        Assert.Equal(TestPki.Thumbprint(first.Certificate), seen!.GetCertHashString(HashAlgorithmName.SHA256));

        // curl with the CA file; without it, curl refuses the certificate; plain HTTP gets no answer.
        var curl = await ProcessRunner.RunAsync("curl", ["-sS", "--http2", "--cacert", pki.CaCertificate, "-o", "/dev/null", "-w", "%{http_version} %{http_code}", address + "health"]);
        Assert.Equal("2 200", curl.StandardOutput);
        var untrusted = await ProcessRunner.RunAsync("curl", ["-sS", "-o", "/dev/null", address + "health"]);
        Assert.Equal(60, untrusted.ExitCode);
        using (var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync($"http://127.0.0.1:{port}/health", ct));
        }

        var status = await daemon.CtlAsync("status");
        Assert.Matches($@"openai-tcp +127\.0\.0\.1:{port} +tls\n", status.StandardOutput);

        // OpenAI's official .NET library over https, with a key.
        var created = await daemon.CtlAsync("keys", "create", "--name", "sdk", "--json");
        Assert.Equal(0, created.ExitCode);
        var secret = JsonDocument.Parse(created.StandardOutput).RootElement.GetProperty("secret").GetString()!;
        using (var sdkHttp = pki.Client(address))
        {
            var client = new OpenAIClient(new ApiKeyCredential(secret), new OpenAIClientOptions
            {
                Endpoint = new Uri(address, "v1"),
                Transport = new HttpClientPipelineTransport(sdkHttp),
            });
            OpenAIModelCollection models = await client.GetOpenAIModelClient().GetModelsAsync(ct);
            Assert.Contains(models, m => m.Id == "tiny");
        }

        // /metrics over https, without a client CA: a key opens it, none gets 401.
        using (var http = pki.Client(address))
        {
            var (keyless, body, _) = await Http.SendAsync(http, new HttpRequestMessage(HttpMethod.Get, "metrics"));
            Assert.Equal(401, keyless);
            Assert.Contains("/metrics on the TCP listener needs an API key", Http.ErrorMessage(body), StringComparison.Ordinal);
            using var keyed = new HttpRequestMessage(HttpMethod.Get, "metrics");
            keyed.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
            using var response = await http.SendAsync(keyed, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // SIGHUP: the files are re-read at once (the log says so before any connection could have noticed them).
        var second = await pki.IssueServerAsync("server-2");
        Install(second, liveCertificate, liveKey);
        Signals.Send(daemon.Pid, Signals.Hangup);
        await WaitForAsync(() => daemon.Output.Contains("TLS certificate loaded: CN=server-2", StringComparison.Ordinal), daemon);
        Assert.Equal(TestPki.Thumbprint(second.Certificate), await ServedThumbprintAsync(pki, address, ct));

        // ullmctl reload: the same.
        var third = await pki.IssueServerAsync("server-3");
        Install(third, liveCertificate, liveKey);
        var reload = await daemon.CtlAsync("reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        await WaitForAsync(() => daemon.Output.Contains("TLS certificate loaded: CN=server-3", StringComparison.Ordinal), daemon);
        Assert.Equal(TestPki.Thumbprint(third.Certificate), await ServedThumbprintAsync(pki, address, ct));

        // New files alone: a handshake a second later finds them changed and serves the new certificate.
        var fourth = await pki.IssueServerAsync("server-4");
        Install(fourth, liveCertificate, liveKey);
        var expected = TestPki.Thumbprint(fourth.Certificate);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        string served;
        do
        {
            await Task.Delay(300, ct);
            served = await ServedThumbprintAsync(pki, address, ct);
        }
        while (served != expected && DateTime.UtcNow < deadline);

        Assert.Equal(expected, served);

        // Broken files keep the certificate in force and say why.
        File.WriteAllText(liveCertificate, "not a certificate");
        Signals.Send(daemon.Pid, Signals.Hangup);
        await WaitForAsync(() => daemon.Output.Contains("TLS certificate reload failed, the previous certificate stays in use", StringComparison.Ordinal), daemon);
        Assert.Equal(expected, await ServedThumbprintAsync(pki, address, ct));

        // Which files is the listener's: a reload that changes a path is rejected, naming the key.
        File.WriteAllText(paths.ConfigFile, File.ReadAllText(paths.ConfigFile).Replace(liveKey, fourth.Key, StringComparison.Ordinal));
        var moved = await daemon.CtlAsync("reload");
        Assert.NotEqual(0, moved.ExitCode);
        Assert.Contains("server.tls_key: changed from", moved.StandardOutput + moved.StandardError, StringComparison.Ordinal);
        Assert.Contains("needs a restart of ullmd", moved.StandardOutput + moved.StandardError, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task With_a_client_ca_a_verified_client_certificate_stands_for_the_api_key_named_by_its_cn()
    {
        var ct = TestContext.Current.CancellationToken;
        var pki = await TestPki.CreateAsync(dir);
        var rogue = await TestPki.CreateAsync(dir, "rogue-ca");
        var server = await pki.IssueServerAsync("server");
        var ci = await pki.IssueClientAsync("ci");
        var stranger = await pki.IssueClientAsync("stranger");
        var impostor = await rogue.IssueClientAsync("ci");
        var port = TestPki.FreePort();
        var paths = DaemonProcess.WriteConfig(dir, TinyModel,
            $"tls_certificate = \"{server.Certificate}\"\ntls_key = \"{server.Key}\"\ntls_client_ca = \"{pki.CaCertificate}\"", tcpListen: $"127.0.0.1:{port}");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var address = new Uri($"https://127.0.0.1:{port}/");
        Assert.Equal(0, (await daemon.CtlAsync("keys", "create", "--name", "ci")).ExitCode);
        Assert.Matches($@"openai-tcp +127\.0\.0\.1:{port} +tls\+client-cert", (await daemon.CtlAsync("status")).StandardOutput);

        using (var http = pki.Client(address, clientCertificate: ci))
        {
            var (status, body, _) = await Http.SendAsync(http, new HttpRequestMessage(HttpMethod.Get, "v1/models"));
            Assert.Equal(200, status);
            Assert.Contains(body.GetProperty("data").EnumerateArray(), m => m.GetProperty("id").GetString() == "tiny");
        }

        // The OpenAI SDKs always send some key: one that is not ullmd's does not hide the certificate.
        using (var http = pki.Client(address, clientCertificate: ci))
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk-sdk-placeholder");
            var (status, _, _) = await Http.SendAsync(http, request);
            Assert.Equal(200, status);
        }

        var curl = await ProcessRunner.RunAsync("curl", ["-sS", "--cacert", pki.CaCertificate, "--cert", ci.Certificate, "--key", ci.Key,
            "-o", "/dev/null", "-w", "%{http_code}", address + "v1/models"]);
        Assert.Equal("200", curl.StandardOutput);

        // /metrics on TCP needs a key (metrics_open_on_tcp is off): the certificate that stands for one counts.
        using (var http = pki.Client(address, clientCertificate: ci))
        {
            using var response = await http.GetAsync("metrics", ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("ullm_requests_in_flight", await response.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        }

        foreach (var path in new[] { "v1/models", "metrics" })
        {
            using var http = pki.Client(address, clientCertificate: stranger);
            var (status, body, _) = await Http.SendAsync(http, new HttpRequestMessage(HttpMethod.Get, path));
            Assert.Equal(401, status);
            Assert.Contains("subject CN 'stranger' is not the name of an active API key", Http.ErrorMessage(body), StringComparison.Ordinal);
        }

        // No certificate, or one from another CA (even with the right CN): no TLS session, so no request at all.
        foreach (var client in new[] { (Certificate: (string?)null, Key: (string?)null), (impostor.Certificate, impostor.Key) })
        {
            foreach (var path in new[] { "v1/models", "metrics" })
            {
                using var http = pki.Client(address, clientCertificate: client.Certificate is null ? null : (client.Certificate, client.Key!));
                await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(path, ct));
            }
        }

        // A revoked key no longer lets its certificate in.
        Assert.Equal(0, (await daemon.CtlAsync("keys", "revoke", "ci")).ExitCode);
        using (var http = pki.Client(address, clientCertificate: ci))
        {
            var (status, _, _) = await Http.SendAsync(http, new HttpRequestMessage(HttpMethod.Get, "v1/models"));
            Assert.Equal(401, status);
        }
    }

    /// <summary>
    /// The official openai npm client (tests/tools/openai-client) trusting the test CA through NODE_EXTRA_CA_CERTS, as a
    /// user would: a chat and a stream over https from a real llama-server; with a client CA, its https agent's
    /// certificate stands for the API key, and without one the TLS session is refused.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_openai_npm_client_chats_and_streams_over_https(bool clientCertificate)
    {
        TestPki? pki = null;
        (string Certificate, string Key) client = default;
        var port = TestPki.FreePort();
        await using var daemon = await TinyDaemon.StartAsync("ullm-tls-npm", tcpListen: $"127.0.0.1:{port}", beforeStart: async d =>
        {
            pki = await TestPki.CreateAsync(d);
            var server = await pki.IssueServerAsync("server");
            client = await pki.IssueClientAsync("ci");
            var tls = $"tls_certificate = \"{server.Certificate}\"\ntls_key = \"{server.Key}\"\n" + (clientCertificate ? $"tls_client_ca = \"{pki.CaCertificate}\"\n" : "");
            var config = d.File("config.toml");
            File.WriteAllText(config, File.ReadAllText(config).Replace("[server]\n", "[server]\n" + tls, StringComparison.Ordinal));
        }) ?? DaemonFaultTests.Skipped();
        var created = await daemon.Process.CtlAsync("keys", "create", "--name", "ci", "--json");
        Assert.Equal(0, created.ExitCode);
        // With a client certificate the SDK's placeholder key is not ullmd's, so the certificate names the key.
        var apiKey = clientCertificate ? "sk-placeholder" : JsonDocument.Parse(created.StandardOutput).RootElement.GetProperty("secret").GetString()!;
        var certificate = clientCertificate ? client : ((string, string)?)null;
        var environment = new Dictionary<string, string> { ["NODE_EXTRA_CA_CERTS"] = pki!.CaCertificate };
        var baseUrl = new Uri($"https://127.0.0.1:{port}/v1");

        var chat = await OpenAiNodeClient.CallAsync(baseUrl, "chat", JsonNode.Parse("""{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":8}"""),
            apiKey, environment: environment, clientCertificate: certificate);
        Assert.True(chat.Ok, chat.ToString());
        Assert.Equal("chat.completion", chat.Result!["object"]!.GetValue<string>());
        Assert.Equal(8, chat.Result!["usage"]!["completion_tokens"]!.GetValue<int>());

        var stream = await OpenAiNodeClient.CallAsync(baseUrl, "chat",
            JsonNode.Parse("""{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true}}"""),
            apiKey, environment: environment, clientCertificate: certificate);
        Assert.True(stream.Ok, stream.ToString());
        Assert.True(stream.Events.Count > 2, stream.ToString());
        Assert.All(stream.Events, e => Assert.Equal("chat.completion.chunk", e!["object"]!.GetValue<string>()));
        Assert.Equal(8, stream.Events[^1]!["usage"]!["completion_tokens"]!.GetValue<int>());

        // Without the CA the SDK refuses ullmd's certificate; with a client CA, no client certificate gets no session.
        var untrusted = await OpenAiNodeClient.CallAsync(baseUrl, "chat", JsonNode.Parse("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":1}"""),
            apiKey, clientCertificate: certificate);
        Assert.False(untrusted.Ok);
        Assert.Null(untrusted.Status);
        if (clientCertificate)
        {
            var anonymous = await OpenAiNodeClient.CallAsync(baseUrl, "chat", JsonNode.Parse("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":1}"""),
                apiKey, environment: environment);
            Assert.False(anonymous.Ok);
            Assert.Null(anonymous.Status);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task The_certificate_and_key_can_come_from_systemd_credentials()
    {
        var ct = TestContext.Current.CancellationToken;
        var pki = await TestPki.CreateAsync(dir);
        var server = await pki.IssueServerAsync("from-credentials");
        Directory.CreateDirectory(dir.File("credentials"));
        File.Copy(server.Certificate, dir.File("credentials/ullm-tls-cert"));
        File.Copy(server.Key, dir.File("credentials/ullm-tls-key"));
        var port = TestPki.FreePort();
        var paths = DaemonProcess.WriteConfig(dir, "", "tls_certificate_credential = \"ullm-tls-cert\"\ntls_key_credential = \"ullm-tls-key\"", tcpListen: $"127.0.0.1:{port}");

        await using (var daemon = await DaemonProcess.StartAsync(dir, paths, new Dictionary<string, string> { ["CREDENTIALS_DIRECTORY"] = dir.File("credentials") }))
        {
            Assert.Equal(TestPki.Thumbprint(server.Certificate), await ServedThumbprintAsync(pki, new Uri($"https://127.0.0.1:{port}/"), ct));
        }

        var without = await ProcessRunner.UllmdAsync(["--config", paths.ConfigFile], timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(1, without.ExitCode);
        Assert.Contains("the TLS certificate is the systemd credential 'ullm-tls-cert', but $CREDENTIALS_DIRECTORY is not set", without.StandardOutput + without.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_that_cannot_be_read_stops_ullmd_at_start_saying_which()
    {
        var port = TestPki.FreePort();
        var paths = DaemonProcess.WriteConfig(dir, "", $"tls_certificate = \"{dir.File("missing.pem")}\"\ntls_key = \"{dir.File("missing.key")}\"", tcpListen: $"127.0.0.1:{port}");

        var result = await ProcessRunner.UllmdAsync(["--config", paths.ConfigFile], timeout: TimeSpan.FromSeconds(60));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"cannot load the TLS certificate {dir.File("missing.pem")} with the key {dir.File("missing.key")}", result.StandardOutput + result.StandardError, StringComparison.Ordinal);
    }

    private static void Install((string Certificate, string Key) pair, string certificate, string key)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(certificate)!);
        // As certificate tools do: new files renamed over the old ones, the key first.
        File.Copy(pair.Key, key + ".new", overwrite: true);
        File.Move(key + ".new", key, overwrite: true);
        File.Copy(pair.Certificate, certificate + ".new", overwrite: true);
        File.Move(certificate + ".new", certificate, overwrite: true);
    }

    private static async Task<string> ServedThumbprintAsync(TestPki pki, Uri address, CancellationToken ct)
    {
        X509Certificate2? seen = null;
        using var http = pki.Client(address, c => seen = c);
        using var response = await http.GetAsync("health", ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return seen!.GetCertHashString(HashAlgorithmName.SHA256);
    }

    private static async Task WaitForAsync(Func<bool> condition, DaemonProcess daemon)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("ullmd did not log what was expected:\n" + daemon.Output);
            }

            await Task.Delay(100);
        }
    }
}
