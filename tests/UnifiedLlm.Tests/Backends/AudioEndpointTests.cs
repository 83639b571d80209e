using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;
using static UnifiedLlm.Tests.Backends.FakeBackendBed;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// /v1/audio/transcriptions, /v1/audio/translations and /v1/audio/speech through a real ullmd to generic backends played
/// by tests/tools/FakeBackends in its audio mode (OpenAI's shapes, as whisper.cpp's server and TTS servers speak them),
/// with curl as the client: uploads larger than the JSON body limit streamed intact, the model form field found and
/// renamed for the backend, bad uploads refused naming the field or the limit, speech relayed as audio, each request
/// audited and counted like the others, API keys and their limits applied, and an OpenAI-compatible provider (the same
/// fake, started by the test) reached as <c>cloud/MODEL</c>.
/// </summary>
public sealed class AudioEndpointTests : IAsyncLifetime
{
    private const long AudioLimit = 8 << 20;
    private readonly FakeBackendBed bed = FakeBackendBed.UnderProcesses("ullm-audio");
    private DaemonProcess daemon = null!;
    private Process provider = null!;

    public async ValueTask InitializeAsync()
    {
        var fake = bed.FakeProgram("fake");
        var providerPort = await StartProviderAsync(fake);
        string Backend(string name, string endpoints) => $$"""
            [backends.{{name}}]
            kind = "generic"
            command = ["{{fake}}", "--port", "${PORT}"]
            env = { FAKE_BACKEND = "generic", FAKE_GENERIC = "audio", FAKE_RECORD_FILE = "{{bed.RecordForBackends}}" }
            endpoints = [{{endpoints}}]
            ready_timeout_seconds = 60

            [models.{{name}}]
            backend = "{{name}}"
            source = "none"
            memory_mib = 10
            """;
        var paths = DaemonProcess.WriteConfig(
            bed.Dir,
            Backend("whisper", "\"transcriptions\", \"translations\"") + "\n" + Backend("tts", "\"speech\"") + "\n[routes.stt]\ntargets = [\"whisper\"]\n"
                + $"\n[providers.cloud]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{providerPort}/v1\"\nmodels = [\"whisper-1\"]\n",
            serverExtra: $"{bed.Supervisor}\nmax_request_body_bytes = {1 << 20}\nmax_audio_body_bytes = {AudioLimit}");
        daemon = await bed.StartAsync(paths);
    }

    public async ValueTask DisposeAsync()
    {
        await daemon.DisposeAsync();
        provider.Kill();
        await provider.WaitForExitAsync();
        provider.Dispose();
        bed.Dispose();
    }

    [Fact(Timeout = 180_000)]
    public async Task A_multi_megabyte_upload_is_streamed_to_the_backend_intact_with_the_model_field_renamed_for_it()
    {
        // Six times the JSON body limit: it passes only because the upload is streamed, not read whole.
        var audio = WriteAudio("speech.wav", 6 << 20);
        var (status, body) = await CurlAsync("/v1/audio/transcriptions", "-F", "model=stt", "-F", $"file=@{audio};type=audio/wav", "-F", "language=en");

        Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        var text = JsonDocument.Parse(body).RootElement.GetProperty("text").GetString();
        // The route "stt" reached the model "whisper", whose backend knows itself by that name.
        Assert.Equal($"transcription of speech.wav: {6 << 20} bytes, sha256 {Sha256(audio)}, model whisper", text);
        var sent = bed.Requests().Single(r => (string?)r["path"] == "/v1/audio/transcriptions");
        Assert.Equal("whisper", (string?)sent["body"]!["fields"]!["model"]);
        Assert.Equal("en", (string?)sent["body"]!["fields"]!["language"]);

        var (translated, plain) = await CurlAsync("/v1/audio/translations", "-F", "model=whisper", "-F", $"file=@{audio}", "-F", "response_format=text");
        Assert.Equal(200, translated);
        Assert.Equal($"translation of speech.wav: {6 << 20} bytes, sha256 {Sha256(audio)}, model whisper\n", plain);

        // Audited and counted like every proxied request.
        await WaitUntilAsync(async () => (await daemon.CtlAsync("audit", "--json")).StandardOutput.Contains("\"whisper\"", StringComparison.Ordinal), TestContext.Current.CancellationToken);
        using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Contains("ullm_requests_total{model=\"whisper\",target=\"whisper\",status=\"200\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("ullm_requests_total{model=\"stt\",target=\"whisper\",status=\"200\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Uploads_without_a_model_field_too_large_or_to_a_backend_without_the_endpoint_are_refused_saying_why()
    {
        var small = WriteAudio("small.wav", 10_000);
        var (missing, missingBody) = await CurlAsync("/v1/audio/transcriptions", "-F", $"file=@{small}");
        Assert.Equal(400, missing);
        Assert.Equal("'model': is required: the multipart body has no 'model' form field", Message(missingBody));

        // The model after a file bigger than what ullmd reads to find it.
        var big = WriteAudio("big.wav", 2 << 20);
        var (late, lateBody) = await CurlAsync("/v1/audio/transcriptions", "-F", $"file=@{big}", "-F", "model=whisper");
        Assert.Equal(400, late);
        Assert.Equal("'model': was not found in the first 1048576 bytes of the multipart body: send the 'model' field before the file", Message(lateBody));

        // Over server.max_audio_body_bytes: refused on its Content-Length, and mid-body when it is sent chunked.
        var huge = WriteAudio("huge.wav", (int)AudioLimit + (1 << 20));
        var (tooLarge, tooLargeBody) = await CurlAsync("/v1/audio/transcriptions", "-F", "model=whisper", "-F", $"file=@{huge}");
        Assert.Equal(413, tooLarge);
        Assert.Equal($"the audio upload is larger than {AudioLimit} bytes (server.max_audio_body_bytes)", Message(tooLargeBody));
        var (chunked, chunkedBody) = await CurlAsync("/v1/audio/transcriptions", "-H", "Transfer-Encoding: chunked", "-F", "model=whisper", "-F", $"file=@{huge}");
        Assert.Equal(413, chunked);
        Assert.Equal($"the audio upload is larger than {AudioLimit} bytes (server.max_audio_body_bytes)", Message(chunkedBody));

        var (notForm, notFormBody) = await CurlAsync("/v1/audio/transcriptions", "-H", "Content-Type: application/json", "-d", "{\"model\":\"whisper\"}");
        Assert.Equal(400, notForm);
        Assert.Equal("Content-Type must be multipart/form-data with the audio as the 'file' field, not 'application/json'", Message(notFormBody));

        // The backend is asked only for what it declares.
        var (notServed, notServedBody) = await CurlAsync("/v1/audio/transcriptions", "-F", "model=tts", "-F", $"file=@{small}");
        Assert.Equal(400, notServed);
        Assert.Equal("tts: its backend 'tts' does not serve transcriptions (it serves: speech)", Message(notServedBody));

        // The backend's own refusal reaches the client: an upload whose file is not in the 'file' field.
        var (noFile, noFileBody) = await CurlAsync("/v1/audio/transcriptions", "-F", "model=whisper", "-F", $"audio=@{small}");
        Assert.Equal(400, noFile);
        Assert.Equal("No file was provided: send the audio as the 'file' form field", Message(noFileBody));
    }

    [Fact(Timeout = 180_000)]
    public async Task Speech_is_relayed_as_audio_as_the_backend_writes_it()
    {
        var output = bed.Dir.File("out.wav");
        var (status, _) = await CurlAsync("/v1/audio/speech", "-H", "Content-Type: application/json", "-o", output,
            "-d", """{"model":"tts","input":"hello from the gateway","voice":"alloy","response_format":"wav"}""");

        Assert.True(status == 200, $"{status}\n{daemon.Output}");
        var wav = await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken);
        // Four words, a second each of 16-bit mono at 24 kHz, after the 44-byte header.
        Assert.Equal(44 + (4 * 48_000), wav.Length);
        Assert.Equal("RIFF", Encoding.ASCII.GetString(wav, 0, 4));
        Assert.Equal(wav.Length - 8, BinaryPrimitives.ReadInt32LittleEndian(wav.AsSpan(4)));
        Assert.Equal("tts", (string?)bed.Requests().Single(r => (string?)r["path"] == "/v1/audio/speech")["body"]!["model"]);

        var (noInput, noInputBody) = await CurlAsync("/v1/audio/speech", "-H", "Content-Type: application/json", "-d", """{"model":"tts","voice":"alloy"}""");
        Assert.Equal(400, noInput);
        Assert.Equal("'input': is required", Message(noInputBody));
        var (wrongFormat, wrongFormatBody) = await CurlAsync("/v1/audio/speech", "-H", "Content-Type: application/json", "-d", """{"model":"tts","input":"hi","response_format":"mp3"}""");
        Assert.Equal(400, wrongFormat);
        Assert.Equal("response_format 'mp3' is not supported by this server (wav, pcm)", Message(wrongFormatBody));
    }

    [Fact(Timeout = 180_000)]
    public async Task Unload_with_force_ends_a_speech_answer_in_flight_and_the_audit_row_says_so()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = GatewayHost.UnixClient(daemon.Paths.OpenAiSocket);
        // 2,000 words are 2,000 s of audio (96 MB): far more than the sockets buffer while this client does not read.
        var words = string.Join(' ', Enumerable.Repeat("word", 2000));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/audio/speech")
        {
            Content = new StringContent($$"""{"model":"tts","input":"{{words}}","response_format":"pcm"}""", Encoding.UTF8, "application/json"),
        };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var requestId = response.Headers.GetValues("x-request-id").Single();
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        await body.ReadExactlyAsync(new byte[4096], ct);

        var unload = await daemon.CtlAsync("unload", "tts", "--force");
        Assert.True(unload.ExitCode == 0, unload.ToString());

        // The answer ends short, cut off, rather than running on for its 2,000 s.
        long read = 4096;
        var buffer = new byte[1 << 16];
        var cut = await Record.ExceptionAsync(async () =>
        {
            int n;
            while ((n = await body.ReadAsync(buffer, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(60), ct)) > 0)
            {
                read += n;
            }
        });
        Assert.True(cut is IOException or HttpRequestException, $"the answer was not cut off ({read} bytes read): {cut}");
        Assert.True(read < 2000 * 48_000, $"{read} bytes read");

        var audit = await daemon.CtlAsync("--json", "audit", "--limit", "50");
        using var json = JsonDocument.Parse(audit.StandardOutput);
        var row = json.RootElement.GetProperty("records").EnumerateArray().Single(r => r.GetProperty("requestId").GetString() == requestId);
        Assert.Equal("stream_failed", row.GetProperty("outcome").GetString());
        Assert.Contains("tts: ended mid-answer by a forced unload (ullmctl unload --force)", row.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task Keys_and_their_rate_limits_apply_and_an_openai_compatible_provider_transcribes_for_key_holders()
    {
        var small = WriteAudio("small.wav", 20_000);
        var narrow = await KeyAsync("narrow", "--models", "tts", "--rpm", "1");
        var (forbidden, forbiddenBody) = await CurlAsync("/v1/audio/transcriptions", "-H", $"Authorization: Bearer {narrow}", "-F", "model=whisper", "-F", $"file=@{small}");
        Assert.Equal(403, forbidden);
        Assert.Equal("the API key 'narrow' may not use model 'whisper' (allowed: tts)", Message(forbiddenBody));
        var (limited, _) = await CurlAsync("/v1/audio/speech", "-H", $"Authorization: Bearer {narrow}", "-H", "Content-Type: application/json", "-d", """{"model":"tts","input":"hi"}""");
        Assert.Equal(429, limited);

        // A provider needs a key; with one, the upload goes to the provider's /v1/audio/transcriptions under its model name.
        var (anonymous, anonymousBody) = await CurlAsync("/v1/audio/transcriptions", "-F", "model=cloud/whisper-1", "-F", $"file=@{small}");
        Assert.Equal(403, anonymous);
        Assert.Contains("provider_needs_key", anonymousBody, StringComparison.Ordinal);
        var full = await KeyAsync("full");
        var (status, body) = await CurlAsync("/v1/audio/transcriptions", "-H", $"Authorization: Bearer {full}", "-F", "model=cloud/whisper-1", "-F", $"file=@{small}");
        Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        Assert.Equal($"transcription of small.wav: 20000 bytes, sha256 {Sha256(small)}, model whisper-1", JsonDocument.Parse(body).RootElement.GetProperty("text").GetString());
        await WaitUntilAsync(async () => (await daemon.CtlAsync("audit", "--json")).StandardOutput.Contains("cloud/whisper-1", StringComparison.Ordinal), TestContext.Current.CancellationToken);
    }

    /// <summary>A new API key's secret.</summary>
    private async Task<string> KeyAsync(string name, params string[] options)
    {
        var created = await daemon.CtlAsync(["keys", "create", "--name", name, "--json", .. options]);
        Assert.True(created.ExitCode == 0, created.ToString());
        return JsonDocument.Parse(created.StandardOutput).RootElement.GetProperty("secret").GetString()!;
    }

    /// <summary>The fake's audio mode on a loopback port of its own, standing in for a cloud API; its port once it answers.</summary>
    private async Task<int> StartProviderAsync(string fake)
    {
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var start = new ProcessStartInfo(fake) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add("--port");
            start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            start.Environment["FAKE_BACKEND"] = "generic";
            start.Environment["FAKE_GENERIC"] = "audio";
            start.Environment["FAKE_RECORD_FILE"] = bed.RecordForBackends;
            provider = Process.Start(start)!;
            using var http = new HttpClient();
            await WaitUntilAsync(async () =>
            {
                try
                {
                    return (await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health"), TestContext.Current.CancellationToken)).IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, TestContext.Current.CancellationToken);
            return port;
        }
    }

    /// <summary>curl against ullmd's OpenAI socket: the status and the body (unless -o took it).</summary>
    private async Task<(int Status, string Body)> CurlAsync(string path, params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync("curl", ["-sS", "--unix-socket", daemon.Paths.OpenAiSocket, "-w", "\n%{http_code}", .. arguments, $"http://localhost{path}"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var split = result.StandardOutput.LastIndexOf('\n');
        return (int.Parse(result.StandardOutput[(split + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture), result.StandardOutput[..split]);
    }

    private static string Message(string body) => JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("message").GetString()!;

    /// <summary>A file of <paramref name="bytes"/> pseudo-random bytes (what a codec would make of sound).</summary>
    private string WriteAudio(string name, int bytes)
    {
        var content = new byte[bytes];
        new Random(bytes).NextBytes(content);
        var path = bed.Dir.File(name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
