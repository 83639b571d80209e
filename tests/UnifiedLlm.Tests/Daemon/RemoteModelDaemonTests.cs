using System.Security.Cryptography;
using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Models.Download;
using UnifiedLlm.Tests.Support;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Daemon;

/// <summary>
/// Models fetched on first use in a real ullmd (plain-process supervisor) with a real llama-server: the tiny GGUF the
/// test writes is served by a real HTTP server on loopback (<see cref="FileServer"/>), as an hf: reference through
/// [downloads] hf_endpoint and as a URL. Never the internet.
/// </summary>
public sealed partial class RemoteModelDaemonTests : IAsyncLifetime
{
    private const string Token = "hf_daemon-test-token-9f2c";

    private readonly TempDirectory dir = new("ullm-remote");
    private FileServer server = null!;
    private byte[] tiny = [];

    public async ValueTask InitializeAsync()
    {
        server = await FileServer.StartAsync();
        TinyModel.Write(dir.File("tiny.gguf"));
        tiny = await File.ReadAllBytesAsync(dir.File("tiny.gguf"));
    }

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        dir.Dispose();
    }

    [Fact(Timeout = 180_000)]
    public async Task Pull_shows_progress_then_a_chat_runs_on_the_downloaded_model_and_the_token_stays_out_of_logs_errors_and_audit()
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        server.Files["org/tiny/resolve/main/tiny.gguf"] = tiny;
        server.Statuses["org/gated/resolve/main/tiny.gguf"] = 403;
        server.PacedOver = TimeSpan.FromSeconds(3);
        // As systemd passes it: LoadCredential=hf-token:… puts the file in $CREDENTIALS_DIRECTORY.
        dir.Write("credentials/hf-token", Token + "\n");
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [downloads]
            hf_endpoint = "{server.BaseAddress}"
            token_credential = "hf-token"

            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.tiny]
            backend = "llamacpp"
            source = "hf:org/tiny/tiny.gguf"
            sha256 = "{Convert.ToHexStringLower(SHA256.HashData(tiny))}"
            context = 256
            gpu_layers = 0

            [models.gated]
            backend = "llamacpp"
            source = "hf:org/gated/tiny.gguf"

            [models.local]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            """, serverExtra: "supervisor = \"process\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths, new Dictionary<string, string> { ["CREDENTIALS_DIRECTORY"] = dir.File("credentials") });

        var before = await daemon.CtlAsync("model", "show", "tiny");
        Assert.Contains("remote      hf:org/tiny/tiny.gguf (not downloaded yet: the first load or ullmctl pull fetches it)", before.StandardOutput, StringComparison.Ordinal);

        var pull = await daemon.CtlAsync("pull", "tiny");

        Assert.True(pull.ExitCode == 0, pull + daemon.Output);
        var downloaded = Path.Combine(paths.DataDir, "models", "hf", "org", "tiny", "main", "tiny.gguf");
        Assert.Matches(ProgressLine(), pull.StandardOutput);
        Assert.EndsWith($"tiny: tiny is in {downloaded} ({TinySize()}, sha256 verified)\n", pull.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(tiny, await File.ReadAllBytesAsync(downloaded, TestContext.Current.CancellationToken));
        Assert.Contains("remote      hf:org/tiny/tiny.gguf (downloaded)", (await daemon.CtlAsync("model", "show", "tiny")).StandardOutput, StringComparison.Ordinal);

        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);
        var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("tiny", extra: ",\"max_tokens\":4")));
        Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        Assert.Single(server.Requests, r => r.Path == "org/tiny/resolve/main/tiny.gguf");
        Assert.Equal($"Bearer {Token}", server.Requests.First().Authorization);

        var refused = await daemon.CtlAsync("pull", "gated");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains($"{server.Url("org/gated/resolve/main/tiny.gguf")}: the server answered 403 Forbidden; the configured token was refused", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal($"Bearer {Token}", server.Requests.Last().Authorization);

        var local = await daemon.CtlAsync("pull", "local");
        Assert.Equal(1, local.ExitCode);
        Assert.Equal($"ullmctl: FailedPrecondition: name: local has nothing to pull: its source {dir.File("tiny.gguf")} is a local file, not a URL or an hf: reference\n", local.StandardError);

        var audit = await daemon.CtlAsync("audit", "--json");
        Assert.Equal(0, audit.ExitCode);
        Assert.Contains("\"tiny\"", audit.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("download: tiny: downloaded hf:org/tiny/tiny.gguf", daemon.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, daemon.Output + pull + refused + audit, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_first_load_downloads_once_for_concurrent_requests_showing_progress_in_ullmctl_load()
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        server.Files["files/tiny.gguf"] = tiny;

        // Long enough for ullmctl to start and join the load while the chat's download runs, on a busy machine too.
        server.PacedOver = TimeSpan.FromSeconds(6);
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.tiny]
            backend = "llamacpp"
            source = "{server.Url("files/tiny.gguf")}"
            context = 256
            gpu_layers = 0
            """, serverExtra: "supervisor = \"process\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);

        var chat = Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("tiny", extra: ",\"max_tokens\":4")));
        var load = await daemon.CtlAsync("load", "tiny", "--wait");
        var (status, body, _) = await chat.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(load.ExitCode == 0, load + daemon.Output);
        Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        Assert.Matches(LoadProgressLine(), load.StandardOutput);
        Assert.Contains("tiny ready", load.StandardOutput, StringComparison.Ordinal);
        Assert.Single(server.Requests);
        Assert.Contains("download: tiny: downloaded http://", daemon.Output, StringComparison.Ordinal);
        Assert.Contains("no sha256 configured, not verified", daemon.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_split_model_downloads_every_part_and_llama_server_is_given_the_first()
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var parts = SplitInTwo(tiny);
        server.Files["org/tiny/resolve/q8/tiny-00001-of-00002.gguf"] = parts[0];
        server.Files["org/tiny/resolve/q8/tiny-00002-of-00002.gguf"] = parts[1];
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [downloads]
            hf_endpoint = "{server.BaseAddress}"

            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.tiny]
            backend = "llamacpp"
            source = "hf:org/tiny/tiny-00001-of-00002.gguf@q8"
            sha256 = ["{Convert.ToHexStringLower(SHA256.HashData(parts[0]))}", "{Convert.ToHexStringLower(SHA256.HashData(parts[1]))}"]
            context = 256
            gpu_layers = 0
            """, serverExtra: "supervisor = \"process\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);

        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);
        var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("tiny", extra: ",\"max_tokens\":4")));

        Assert.True(status == 200, $"{status} {body}\n{daemon.Output}");
        var directory = Path.Combine(paths.DataDir, "models", "hf", "org", "tiny", "q8");
        Assert.Equal(parts[0], await File.ReadAllBytesAsync(Path.Combine(directory, "tiny-00001-of-00002.gguf"), TestContext.Current.CancellationToken));
        Assert.Equal(parts[1], await File.ReadAllBytesAsync(Path.Combine(directory, "tiny-00002-of-00002.gguf"), TestContext.Current.CancellationToken));
        var logs = await daemon.CtlAsync("logs", "tiny", "-n", "1000");
        Assert.Contains($"load_model: loading model '{Path.Combine(directory, "tiny-00001-of-00002.gguf")}'", logs.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(["org/tiny/resolve/q8/tiny-00001-of-00002.gguf", "org/tiny/resolve/q8/tiny-00002-of-00002.gguf"], server.Requests.Select(r => r.Path));
    }

    /// <summary>
    /// The model as gguf-split writes it in two parts: the first with every key and the first half of the tensors, the
    /// second with the rest; both with split.no, split.count and split.tensors.count.
    /// </summary>
    private static List<byte[]> SplitInTwo(byte[] model)
    {
        using var source = new MemoryStream(model);
        var file = GgufReader.Read(source, "tiny.gguf", CancellationToken.None);
        var half = file.Tensors.Count / 2;
        var parts = new List<byte[]>();
        foreach (var (index, tensors) in new[] { (0, file.Tensors.Take(half)), (1, file.Tensors.Skip(half)) })
        {
            var writer = new GgufWriter();
            if (index == 0)
            {
                foreach (var entry in file.Metadata.Entries)
                {
                    writer.Add(entry.Key, entry.Value);
                }
            }

            writer.Add("split.no", GgufValue.FromUInt16((ushort)index));
            writer.Add("split.count", GgufValue.FromUInt16(2));
            writer.Add("split.tensors.count", GgufValue.FromInt32(file.Tensors.Count));
            foreach (var tensor in tensors)
            {
                writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions, model.AsMemory((int)(file.DataOffset + (long)tensor.Offset), (int)tensor.ByteSize));
            }

            using var part = new MemoryStream();
            writer.WriteTo(part);
            parts.Add(part.ToArray());
        }

        return parts;
    }

    private string TinySize() => UnifiedLlm.Daemon.Models.Download.DownloadProgress.Bytes(tiny.Length);

    [GeneratedRegex(@"tiny: downloading tiny\.gguf: [0-9.]+ (B|KiB|MiB) of [0-9.]+ (KiB|MiB), [0-9.]+ (B|KiB|MiB)/s(, [0-9]+ s left)?\n")]
    private static partial Regex ProgressLine();

    [GeneratedRegex(@"tiny downloading: tiny\.gguf: [0-9.]+ (B|KiB|MiB) of [0-9.]+ (KiB|MiB), [0-9.]+ (B|KiB|MiB)/s(, [0-9]+ s left)?\n")]
    private static partial Regex LoadProgressLine();
}
