using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Download;

namespace UnifiedLlm.Tests.Models.Download;

/// <summary>
/// The downloader against a real HTTP server on loopback (<see cref="FileServer"/>) with faults: a dropped connection,
/// a wrong checksum, 404 and 5xx, a full file system (a small tmpfs), concurrent requests, split parts and a token.
/// </summary>
public sealed partial class ModelDownloaderTests : IAsyncLifetime
{
    private const string Token = "hf_s3cret-token-value";

    private readonly Support.TempDirectory dir = new("ullm-download");
    private readonly ConcurrentQueue<string> reports = new();
    private readonly RecordingLogger logger = new();
    private FileServer server = null!;

    public async ValueTask InitializeAsync() => server = await FileServer.StartAsync();

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        dir.Dispose();
    }

    [Fact]
    public async Task A_url_source_is_downloaded_verified_and_left_readable_by_the_backends()
    {
        var content = Bytes(300_000, seed: 1);
        server.Files["files/m.gguf"] = content;
        var model = Model($"source = \"{server.Url("files/m.gguf")}\"\nsha256 = \"{Sha256(content)}\"");
        await using var downloader = Downloader();

        await downloader.EnsureAsync(model, TestContext.Current.CancellationToken);

        Assert.Equal(content, await File.ReadAllBytesAsync(model.Source, TestContext.Current.CancellationToken));
        Assert.StartsWith(Path.Combine(dir.Path, "data", "models", "url") + "/", model.Source, StringComparison.Ordinal);
        Assert.False(File.Exists(model.Source + ".part"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(model.Source));
        Assert.True((File.GetUnixFileMode(Path.GetDirectoryName(model.Source)!) & UnixFileMode.OtherExecute) != 0);
        Assert.Contains(reports, r => r.Contains("sha256 verified", StringComparison.Ordinal));
        Assert.Single(server.Requests);

        // Present now: a second call fetches nothing.
        await downloader.EnsureAsync(model, TestContext.Current.CancellationToken);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task A_changed_sha256_rechecks_the_file_already_downloaded_and_fetches_it_again_when_it_does_not_match()
    {
        var old = Bytes(120_000, seed: 20);
        var current = Bytes(130_000, seed: 21);
        server.Files["files/m.gguf"] = old;
        await using var downloader = Downloader();
        var first = Model($"source = \"{server.Url("files/m.gguf")}\"\nsha256 = \"{Sha256(old)}\"");
        await downloader.EnsureAsync(first, TestContext.Current.CancellationToken);
        Assert.True(ModelDownloader.IsPresent(first));

        // The publisher replaced the file and the config names the new digest: the file on disk is no longer the model.
        server.Files["files/m.gguf"] = current;
        var changed = Model($"source = \"{server.Url("files/m.gguf")}\"\nsha256 = \"{Sha256(current)}\"");
        Assert.False(ModelDownloader.IsPresent(changed));
        await downloader.EnsureAsync(changed, TestContext.Current.CancellationToken);

        Assert.Equal(current, await File.ReadAllBytesAsync(changed.Source, TestContext.Current.CancellationToken));
        Assert.Equal(2, server.Requests.Count);
        Assert.Contains(
            $"m: models.m: {changed.Source} has sha256 {Sha256(old)}, not the configured {Sha256(current)} (sha256 changed since it was downloaded); "
                + $"removing it and downloading {server.Url("files/m.gguf")} again",
            reports);
        Assert.True(ModelDownloader.IsPresent(changed));
    }

    [Fact]
    public async Task A_sha256_added_after_the_download_is_checked_once_and_a_wrong_one_refuses_the_model_naming_both_digests()
    {
        var content = Bytes(90_000, seed: 22);
        server.Files["files/m.gguf"] = content;
        await using var downloader = Downloader();
        await downloader.EnsureAsync(Model($"source = \"{server.Url("files/m.gguf")}\""), TestContext.Current.CancellationToken);

        // Now with the right digest: hashed, found equal, kept; nothing is fetched again, now or later.
        var pinned = Model($"source = \"{server.Url("files/m.gguf")}\"\nsha256 = \"{Sha256(content)}\"");
        Assert.False(ModelDownloader.IsPresent(pinned));
        await downloader.EnsureAsync(pinned, TestContext.Current.CancellationToken);
        Assert.True(ModelDownloader.IsPresent(pinned));
        Assert.Single(server.Requests);
        Assert.Contains($"m: {pinned.Source}: sha256 {Sha256(content)} verified against the configured sha256", reports);

        // A digest the server's file does not have: the file is fetched again, fails the check, and nothing is kept.
        var wrong = Sha256(Bytes(10, seed: 23));
        var mistyped = Model($"source = \"{server.Url("files/m.gguf")}\"\nsha256 = \"{wrong}\"");
        var e = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.EnsureAsync(mistyped, TestContext.Current.CancellationToken));

        Assert.Contains(reports, r => r.StartsWith($"m: models.m: {mistyped.Source} has sha256 {Sha256(content)}, not the configured {wrong}", StringComparison.Ordinal));
        Assert.Equal($"{server.Url("files/m.gguf")}: the file's sha256 is {Sha256(content)}, not the configured {wrong}; the download was removed", e.Message);
        Assert.False(File.Exists(mistyped.Source));
        Assert.False(ModelDownloader.IsPresent(mistyped));
    }

    [Fact]
    public async Task A_connection_dropped_mid_file_is_resumed_with_a_range_request_from_where_the_file_ended()
    {
        var content = Bytes(400_000, seed: 2);
        server.Files["files/m.gguf"] = content;
        server.DropOnceAfter["files/m.gguf"] = 150_000;
        var model = Model($"source = \"{server.Url("files/m.gguf")}\"\nsha256 = \"{Sha256(content)}\"");
        await using var downloader = Downloader();

        await downloader.EnsureAsync(model, TestContext.Current.CancellationToken);

        Assert.Equal(content, await File.ReadAllBytesAsync(model.Source, TestContext.Current.CancellationToken));
        var requests = server.Requests.ToList();
        Assert.Equal(2, requests.Count);
        Assert.Equal("", requests[0].Range);

        // The server sent 150000 bytes before aborting; an abort can lose the last of them in flight, so the partial
        // file (and the resume) ends at most there.
        var resumedAt = long.Parse(Assert.Single(ResumeRange().Match(requests[1].Range).Groups["from"].Captures).Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(resumedAt, 1, 150_000);
        Assert.Contains(logger.Lines, l => l.EndsWith($"resumed at byte {resumedAt}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_partial_file_left_by_an_earlier_run_is_resumed()
    {
        var content = Bytes(200_000, seed: 3);
        server.Files["files/m.gguf"] = content;
        var model = Model($"source = \"{server.Url("files/m.gguf")}\"");
        Directory.CreateDirectory(Path.GetDirectoryName(model.Source)!);
        await File.WriteAllBytesAsync(model.Source + ".part", content[..70_000], TestContext.Current.CancellationToken);
        await using var downloader = Downloader();

        await downloader.EnsureAsync(model, TestContext.Current.CancellationToken);

        Assert.Equal(content, await File.ReadAllBytesAsync(model.Source, TestContext.Current.CancellationToken));
        Assert.Equal("bytes=70000-", Assert.Single(server.Requests).Range);
        Assert.Contains(reports, r => r.Contains("no sha256 configured, not verified", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_that_fails_its_checksum_is_removed_with_an_error_naming_both_digests()
    {
        var content = Bytes(100_000, seed: 4);
        server.Files["files/m.gguf"] = content;
        var wrong = Sha256(Bytes(10, seed: 5));
        var model = Model($"source = \"{server.Url("files/m.gguf")}\"\nsha256 = \"{wrong}\"");
        await using var downloader = Downloader();

        var e = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.EnsureAsync(model, TestContext.Current.CancellationToken));

        Assert.Equal($"{server.Url("files/m.gguf")}: the file's sha256 is {Sha256(content)}, not the configured {wrong}; the download was removed", e.Message);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(model.Source)!));
        Assert.Contains(reports, r => r.Contains(wrong, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Not_found_is_an_error_naming_the_url_at_once()
    {
        var model = Model($"source = \"{server.Url("files/missing.gguf")}\"");
        await using var downloader = Downloader();

        var e = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.EnsureAsync(model, TestContext.Current.CancellationToken));

        Assert.Equal($"{server.Url("files/missing.gguf")}: the server answered 404 Not Found", e.Message);
        Assert.Single(server.Requests);
        Assert.False(File.Exists(model.Source + ".part"));
    }

    [Fact]
    public async Task A_server_error_is_tried_again_then_an_error_naming_the_url_and_status()
    {
        server.Statuses["files/m.gguf"] = 503;
        var model = Model($"source = \"{server.Url("files/m.gguf")}\"");
        await using var downloader = Downloader();

        var e = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.EnsureAsync(model, TestContext.Current.CancellationToken));

        Assert.Equal($"downloading {server.Url("files/m.gguf")} failed after 3 tries: {server.Url("files/m.gguf")}: the server answered 503 Service Unavailable", e.Message);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task Two_concurrent_first_requests_wait_on_one_download()
    {
        var content = Bytes(250_000, seed: 6);
        server.Files["files/m.gguf"] = content;
        server.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var model = Model($"source = \"{server.Url("files/m.gguf")}\"");
        await using var downloader = Downloader();

        var first = downloader.EnsureAsync(model, TestContext.Current.CancellationToken);
        var second = downloader.EnsureAsync(model, TestContext.Current.CancellationToken);
        var progress = downloader.Progress(model);
        await WaitUntilAsync(() => !server.Requests.IsEmpty);
        server.Hold.SetResult();
        await Task.WhenAll(first, second);

        Assert.NotNull(progress);
        Assert.Equal("m", progress.Model);
        Assert.Single(server.Requests);
        Assert.Equal(content, await File.ReadAllBytesAsync(model.Source, TestContext.Current.CancellationToken));
        Assert.Null(downloader.Progress(model));
    }

    [Fact]
    public async Task A_split_model_downloads_every_part_and_its_source_is_the_first()
    {
        var parts = Enumerable.Range(1, 3).Select(i => Bytes(50_000 + i, seed: 10 + i)).ToList();
        for (var i = 0; i < 3; i++)
        {
            server.Files[$"org/repo/resolve/main/big-{i + 1:D5}-of-00003.gguf"] = parts[i];
        }

        var model = Model("source = \"hf:org/repo/big-00001-of-00003.gguf\"\nsha256 = [" + string.Join(", ", parts.Select(p => $"\"{Sha256(p)}\"")) + "]");
        await using var downloader = Downloader();

        await downloader.EnsureAsync(model, TestContext.Current.CancellationToken);

        var directory = Path.Combine(dir.Path, "data", "models", "hf", "org", "repo", "main");
        Assert.Equal(Path.Combine(directory, "big-00001-of-00003.gguf"), model.Source);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(parts[i], await File.ReadAllBytesAsync(Path.Combine(directory, $"big-{i + 1:D5}-of-00003.gguf"), TestContext.Current.CancellationToken));
        }

        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task The_token_goes_to_the_hub_as_a_bearer_token_and_nowhere_else()
    {
        server.Files["org/gated/resolve/main/m.gguf"] = Bytes(10_000, seed: 7);
        server.Files["files/open.gguf"] = Bytes(10_000, seed: 8);
        server.Statuses["org/gated/resolve/main/refused.gguf"] = 403;
        await using var downloader = Downloader(token: Token);

        await downloader.EnsureAsync(Model("source = \"hf:org/gated/m.gguf\""), TestContext.Current.CancellationToken);
        await downloader.EnsureAsync(Model($"source = \"{server.Url("files/open.gguf")}\"", "open"), TestContext.Current.CancellationToken);
        var refused = await Assert.ThrowsAsync<ModelDownloadException>(
            () => downloader.EnsureAsync(Model("source = \"hf:org/gated/refused.gguf\"", "refused"), TestContext.Current.CancellationToken));

        var requests = server.Requests.ToDictionary(r => r.Path, r => r.Authorization);
        Assert.Equal($"Bearer {Token}", requests["org/gated/resolve/main/m.gguf"]);
        Assert.Equal("", requests["files/open.gguf"]);
        Assert.Equal($"{server.Url("org/gated/resolve/main/refused.gguf")}: the server answered 403 Forbidden; the configured token was refused ([downloads] token_file or token_credential)", refused.Message);
        Assert.DoesNotContain(reports.Concat(logger.Lines), l => l.Contains(Token, StringComparison.Ordinal));
        Assert.NotEmpty(logger.Lines);
    }

    [Fact]
    public async Task A_redirect_from_the_hub_is_followed_without_the_token()
    {
        var content = Bytes(10_000, seed: 9);
        server.Files["storage/blob.gguf"] = content;
        server.Redirects["org/gated/resolve/main/moved.gguf"] = server.Url("storage/blob.gguf");
        await using var downloader = Downloader(token: Token);

        var model = Model("source = \"hf:org/gated/moved.gguf\"");
        await downloader.EnsureAsync(model, TestContext.Current.CancellationToken);

        Assert.Equal(content, await File.ReadAllBytesAsync(model.Source, TestContext.Current.CancellationToken));
        var requests = server.Requests.ToDictionary(r => r.Path, r => r.Authorization);
        Assert.Equal($"Bearer {Token}", requests["org/gated/resolve/main/moved.gguf"]);
        Assert.Equal("", requests["storage/blob.gguf"]);
    }

    [Fact]
    public async Task A_gated_file_without_a_token_says_which_setting_gives_one()
    {
        server.Statuses["org/gated/resolve/main/m.gguf"] = 401;
        await using var downloader = Downloader();

        var e = await Assert.ThrowsAsync<ModelDownloadException>(
            () => downloader.EnsureAsync(Model("source = \"hf:org/gated/m.gguf\""), TestContext.Current.CancellationToken));

        Assert.EndsWith("401 Unauthorized; a gated repository needs a token: set [downloads] token_file or token_credential", e.Message, StringComparison.Ordinal);
        Assert.Equal("", Assert.Single(server.Requests).Authorization);
    }

    [Fact]
    public async Task A_file_larger_than_the_free_space_is_refused_before_anything_is_written()
    {
        await using var tmpfs = await SmallFileSystemAsync();
        server.Files["files/m.gguf"] = Bytes(2 << 20, seed: 9);
        var model = Model($"source = \"{server.Url("files/m.gguf")}\"", dataDir: tmpfs.Path);
        await using var downloader = Downloader();

        var e = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.EnsureAsync(model, TestContext.Current.CancellationToken));

        Assert.StartsWith($"{server.Url("files/m.gguf")}: needs 2.0 MiB (2097152 bytes) more but only ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith($"are free on the file system of {Path.GetDirectoryName(model.Source)}; free space there or move [server] data_dir", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(model.Source)!));
    }

    [Fact]
    public async Task A_file_system_that_fills_up_mid_file_is_a_clear_error_and_only_the_resumable_part_stays()
    {
        await using var tmpfs = await SmallFileSystemAsync();
        server.Files["files/m.gguf"] = Bytes(2 << 20, seed: 9);
        server.Unsized["files/m.gguf"] = true;
        var model = Model($"source = \"{server.Url("files/m.gguf")}\"", dataDir: tmpfs.Path);
        await using var downloader = Downloader();

        var e = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.EnsureAsync(model, TestContext.Current.CancellationToken));

        Assert.Contains($"{server.Url("files/m.gguf")}: writing {model.Source}.part failed after ", e.Message, StringComparison.Ordinal);
        Assert.Contains("No space left on device", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("the part written is kept, and the next load or pull resumes from it", e.Message, StringComparison.Ordinal);
        var left = Assert.Single(Directory.GetFiles(Path.GetDirectoryName(model.Source)!));
        Assert.Equal(model.Source + ".part", left);
        Assert.Equal(server.Files["files/m.gguf"][..(int)new FileInfo(left).Length], await File.ReadAllBytesAsync(left, TestContext.Current.CancellationToken));
    }

    private ModelDownloader Downloader(string? token = null) => new(
        ModelDownloader.NewHttpClient(),
        () => token,
        (model, message) => reports.Enqueue($"{model}: {message}"),
        new ModelDownloaderOptions { Attempts = 3, RetryDelay = TimeSpan.FromMilliseconds(20) },
        TimeProvider.System,
        logger);

    private ModelConfig Model(string source, string name = "m", string? dataDir = null) => ConfigLoader.Parse(
        $"[server]\ndata_dir = \"{dataDir ?? dir.File("data")}\"\n[downloads]\nhf_endpoint = \"{server.BaseAddress}\"\n"
        + $"[models.{name}]\nbackend = \"llamacpp\"\n{source}\n",
        "download.toml").Models[name];

    [System.Text.RegularExpressions.GeneratedRegex("^bytes=(?<from>[0-9]+)-$")]
    private static partial System.Text.RegularExpressions.Regex ResumeRange();

    private static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "the condition did not hold within 10 s");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>A 1 MiB tmpfs (mount needs root; without it the test is skipped, saying so).</summary>
    private async Task<Mount> SmallFileSystemAsync()
    {
        var path = dir.File("small");
        Directory.CreateDirectory(path);
        var result = await Support.ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", path]);
        if (result.ExitCode != 0)
        {
            Assert.Skip($"a small tmpfs for the disk-full case needs mount as root: {result}");
        }

        return new Mount(path);
    }

    private sealed class Mount(string path) : IAsyncDisposable
    {
        public string Path => path;

        public async ValueTask DisposeAsync() => await Support.ProcessRunner.RunAsync("umount", [path]);
    }

    /// <summary>Every message the downloader logs, formatted as the log would show it.</summary>
    private sealed class RecordingLogger : ILogger<ModelDownloader>
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue(formatter(state, exception));
    }
}
