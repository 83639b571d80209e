using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Models.Download;

/// <summary>How downloads retry and how often they report.</summary>
internal sealed record ModelDownloaderOptions
{
    /// <summary>Tries per file: a dropped connection or a 5xx answer is tried again, resuming where the file ends.</summary>
    public int Attempts { get; init; } = 5;

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A read that brings nothing for this long counts as a broken connection (and is resumed).</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a download in progress is reported (events and the log).</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Fetches the files of models with a remote source (<see cref="RemoteSource"/>) into <c>data_dir/models</c>. Each file
/// is written beside its target as <c>FILE.part</c> and renamed into place only once complete and, when the config gives
/// its sha256, verified; a file that fails the check is removed. An interrupted download resumes from the end of its
/// partial file with an HTTP Range request (at once for a dropped connection, or at the next load or pull). Free space is
/// checked against the announced length before anything is written. Beside each verified file, <c>FILE.sha256</c> holds
/// the digest it was verified against: when the configured sha256 changes, the file is hashed again before use, and one
/// that no longer matches is downloaded again. Requests for a model whose download is in flight wait on that one download. The token (for hf: sources only) is sent as a bearer token and never logged or put in a
/// message.
/// </summary>
internal sealed partial class ModelDownloader : IAsyncDisposable
{
    private const int BufferBytes = 1 << 20;
    private const UnixFileMode ReadableByAll = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode TraversableByAll = ReadableByAll | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    private readonly Lock gate = new();
    private readonly Dictionary<string, ActiveDownload> active = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stopping = new();
    private readonly HttpClient http;
    private readonly Func<string?> readToken;
    private readonly Action<string, string> report;
    private readonly ModelDownloaderOptions options;
    private readonly TimeProvider time;
    private readonly ILogger<ModelDownloader> logger;

    /// <summary>
    /// The client downloads go through: redirects followed (the hub answers a file with one to its storage), which drop
    /// the token (.NET's redirect handling removes the Authorization header), and no overall timeout, since a file may
    /// take hours; a stalled one is caught by the read timeout.
    /// </summary>
    public static HttpClient NewHttpClient() =>
        new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30), MaxAutomaticRedirections = 10 })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

    /// <param name="readToken">The download token, read when a download begins; null when none is configured.</param>
    /// <param name="report">Told (model, message) when a download begins, progresses, ends or fails.</param>
    public ModelDownloader(HttpClient http, Func<string?> readToken, Action<string, string> report, ModelDownloaderOptions options, TimeProvider time, ILogger<ModelDownloader> logger)
    {
        this.http = http;
        this.readToken = readToken;
        this.report = report;
        this.options = options;
        this.time = time;
        this.logger = logger;
    }

    /// <summary>
    /// Whether every file of the model is in place, each verified against its configured sha256 if it has one (true for a
    /// model with a local source).
    /// </summary>
    public static bool IsPresent(ModelConfig model) => model.Remote is not { } remote || remote.Parts.All(IsInPlace);

    private static bool IsInPlace(RemotePart part) =>
        File.Exists(part.LocalPath) && (part.Sha256 is not { } expected || VerifiedDigest(part) == expected);

    /// <summary>Where the digest a part was last verified against is kept.</summary>
    private static string DigestFile(RemotePart part) => part.LocalPath + ".sha256";

    private static string? VerifiedDigest(RemotePart part)
    {
        try
        {
            return File.ReadAllText(DigestFile(part)).Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Downloads what is missing of <paramref name="model"/>, or joins the download in flight; returns once all of it is in place.</summary>
    public Task EnsureAsync(ModelConfig model, CancellationToken cancellationToken) =>
        IsPresent(model) ? Task.CompletedTask : Start(model).Completion.WaitAsync(cancellationToken);

    /// <summary>
    /// The download of <paramref name="model"/> in flight, begun now when none is (and something is missing); its
    /// <see cref="ActiveDownload.Completion"/> is done at once when every file is in place.
    /// </summary>
    public ActiveDownload Start(ModelConfig model)
    {
        var remote = model.Remote ?? throw new InvalidOperationException($"{model.Name} has no remote source");
        lock (gate)
        {
            if (active.TryGetValue(remote.LocalPath, out var running))
            {
                return running;
            }

            var download = new ActiveDownload(model.Name, remote.Parts.Count, time);
            if (IsPresent(model))
            {
                return download;
            }

            active[remote.LocalPath] = download;
            download.Completion = Task.Run(() => RunAsync(model.Name, remote, download, stopping.Token), CancellationToken.None);
            return download;
        }
    }

    /// <summary>The progress of <paramref name="model"/>'s download in flight, or null when none is.</summary>
    public DownloadProgress? Progress(ModelConfig model)
    {
        lock (gate)
        {
            return model.Remote is { } remote && active.TryGetValue(remote.LocalPath, out var download) ? download.Snapshot() : null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        Task[] running;
        lock (gate)
        {
            running = [.. active.Values.Select(d => d.Completion)];
        }

        await Task.WhenAll(running.Select(t => t.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)));
        stopping.Dispose();
    }

    private async Task RunAsync(string model, RemoteSource remote, ActiveDownload download, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        using var reporter = time.CreateTimer(_ => Report(model, $"downloading {download.Snapshot().Describe()}"), null, options.ReportInterval, options.ReportInterval);
        try
        {
            var token = remote.SendsToken ? readToken() : null;
            Report(model, $"downloading {remote.Text} into {Path.GetDirectoryName(remote.LocalPath)}");
            for (var i = 0; i < remote.Parts.Count; i++)
            {
                await FetchPartAsync(model, remote.Parts[i], i + 1, token, download, cancellationToken).ConfigureAwait(false);
            }

            var verified = remote.Parts.All(p => p.Sha256 is not null) ? "sha256 verified" : "no sha256 configured, not verified";
            Report(model, $"downloaded {remote.Text} ({DownloadProgress.Bytes(download.Snapshot().CompletedBytes)} in "
                + $"{time.GetElapsedTime(started).TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s, {verified}) to {remote.LocalPath}");
        }
        catch (Exception e) when (e is IOException or HttpRequestException or UnauthorizedAccessException && !cancellationToken.IsCancellationRequested)
        {
            var failure = new ModelDownloadException($"downloading {remote.Text} failed: {e.Message}", e);
            Report(model, failure.Message);
            throw failure;
        }
        catch (ModelDownloadException e)
        {
            Report(model, e.Message);
            throw;
        }
        finally
        {
            lock (gate)
            {
                active.Remove(remote.LocalPath);
            }
        }
    }

    private void Report(string model, string message)
    {
        LogDownload(model, message);
        report(model, message);
    }

    private async Task FetchPartAsync(string model, RemotePart part, int index, string? token, ActiveDownload download, CancellationToken cancellationToken)
    {
        var name = Path.GetFileName(part.LocalPath);
        if (File.Exists(part.LocalPath) && await KeepExistingAsync(model, part, cancellationToken).ConfigureAwait(false))
        {
            download.BeginPart(index, name, 0, null);
            download.FinishedPart(new FileInfo(part.LocalPath).Length);
            return;
        }

        CreateDirectories(Path.GetDirectoryName(part.LocalPath)!);
        var partial = part.LocalPath + ".part";
        for (var attempt = 1; ; attempt++)
        {
            var outcome = await TryFetchAsync(part, partial, index, token, download, cancellationToken).ConfigureAwait(false);
            if (outcome is null)
            {
                break;
            }

            if (attempt >= options.Attempts)
            {
                throw new ModelDownloadException($"downloading {part.Url} failed after {attempt} tries: {outcome}");
            }

            LogRetry(part.Url, attempt, outcome);
            await Task.Delay(options.RetryDelay, time, cancellationToken).ConfigureAwait(false);
        }

        if (part.Sha256 is { } expected && await HashFileAsync(partial, cancellationToken).ConfigureAwait(false) is var actual && actual != expected)
        {
            File.Delete(partial);
            throw new ModelDownloadException($"{part.Url}: the file's sha256 is {actual}, not the configured {expected}; the download was removed");
        }

        File.SetUnixFileMode(partial, ReadableByAll);
        File.Move(partial, part.LocalPath);
        if (part.Sha256 is { } verified)
        {
            await File.WriteAllTextAsync(DigestFile(part), verified, cancellationToken).ConfigureAwait(false);
        }

        download.FinishedPart(new FileInfo(part.LocalPath).Length);
    }

    /// <summary>
    /// Whether a file already downloaded may be used: yes without a configured sha256 or when it was verified against
    /// this one; otherwise it is hashed now (the configured sha256 changed, or it was downloaded without one), and a file
    /// that does not match is removed, to be downloaded again.
    /// </summary>
    private async Task<bool> KeepExistingAsync(string model, RemotePart part, CancellationToken cancellationToken)
    {
        if (part.Sha256 is not { } expected || VerifiedDigest(part) == expected)
        {
            return true;
        }

        var actual = await HashFileAsync(part.LocalPath, cancellationToken).ConfigureAwait(false);
        if (actual == expected)
        {
            await File.WriteAllTextAsync(DigestFile(part), expected, cancellationToken).ConfigureAwait(false);
            Report(model, $"{part.LocalPath}: sha256 {expected} verified against the configured sha256");
            return true;
        }

        Report(model, $"models.{model}: {part.LocalPath} has sha256 {actual}, not the configured {expected} (sha256 changed since it was downloaded); "
            + $"removing it and downloading {part.Url} again");
        File.Delete(part.LocalPath);
        File.Delete(DigestFile(part));
        return false;
    }

    /// <summary>One request for the rest of the file; null once the partial file is complete, else why to try again.</summary>
    private async Task<string?> TryFetchAsync(RemotePart part, string partial, int index, string? token, ActiveDownload download, CancellationToken cancellationToken)
    {
        var offset = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, part.Url);
        if (offset > 0)
        {
            request.Headers.Range = new RangeHeaderValue(offset, null);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            return $"{part.Url}: {e.Message}";
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
            {
                // The partial file is not a prefix the server can continue (it changed, or ours is too long): start over.
                File.Delete(partial);
                return $"{part.Url}: the server cannot resume at byte {offset} (416); starting over";
            }

            if (status >= 500)
            {
                return $"{part.Url}: the server answered {status} {response.ReasonPhrase}";
            }

            if (!response.IsSuccessStatusCode)
            {
                var hint = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                    ? token is null
                        ? "; a gated repository needs a token: set [downloads] token_file or token_credential"
                        : "; the configured token was refused ([downloads] token_file or token_credential)"
                    : "";
                throw new ModelDownloadException($"{part.Url}: the server answered {status} {response.ReasonPhrase}{hint}");
            }

            var resumed = offset > 0 && response.StatusCode == HttpStatusCode.PartialContent;
            if (resumed && response.Content.Headers.ContentRange?.From != offset)
            {
                File.Delete(partial);
                return $"{part.Url}: the server resumed at byte {response.Content.Headers.ContentRange?.From} instead of {offset}; starting over";
            }

            var start = resumed ? offset : 0;
            var length = response.Content.Headers.ContentLength;
            long? total = length is { } l ? start + l : null;
            if (length is { } needed)
            {
                var directory = Path.GetDirectoryName(part.LocalPath)!;
                var free = new DriveInfo(directory).AvailableFreeSpace;
                if (needed > free)
                {
                    throw new ModelDownloadException(
                        $"{part.Url}: needs {DownloadProgress.Bytes(needed)} ({needed} bytes) more but only {DownloadProgress.Bytes(free)} ({free} bytes) "
                        + $"are free on the file system of {directory}; free space there or move [server] data_dir");
                }
            }

            download.BeginPart(index, Path.GetFileName(part.LocalPath), start, total);
            if (resumed)
            {
                LogResumed(part.Url, offset);
            }

            var written = await CopyAsync(response, partial, start, part.Url, download, options.ReadTimeout, cancellationToken).ConfigureAwait(false);
            if (written is { } problem)
            {
                return problem;
            }

            var size = new FileInfo(partial).Length;
            if (total is { } expected && size != expected)
            {
                return $"{part.Url}: the server sent {size} of {expected} bytes";
            }
        }

        return null;
    }

    /// <summary>Writes the body after the first <paramref name="keep"/> bytes of the partial file; null when the body ended normally.</summary>
    private static async Task<string?> CopyAsync(
        HttpResponseMessage response, string partial, long keep, Uri url, ActiveDownload download, TimeSpan readTimeout, CancellationToken cancellationToken)
    {
        var stream = new FileStream(partial, new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, Options = FileOptions.Asynchronous, BufferSize = 0 });
        await using (stream.ConfigureAwait(false))
        {
            stream.SetLength(keep);
            stream.Position = keep;
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                var buffer = new byte[BufferBytes];
                while (true)
                {
                    int read;
                    using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    stall.CancelAfter(readTimeout);
                    try
                    {
                        read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or HttpRequestException)
                    {
                        return $"{url}: the connection broke after {stream.Position} bytes: {e.Message}";
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        return $"{url}: nothing arrived for {readTimeout.TotalSeconds:0} s after {stream.Position} bytes";
                    }

                    if (read == 0)
                    {
                        return null;
                    }

                    try
                    {
                        await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (IOException e)
                    {
                        throw new ModelDownloadException(
                            $"{url}: writing {partial} failed after {stream.Position} bytes: {e.Message}; the part written is kept, and the next load or pull resumes from it", e);
                    }

                    download.Wrote(read);
                }
            }
        }
    }

    /// <summary>The file's sha256 in lower-case hex.</summary>
    private static async Task<string> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferBytes, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (stream.ConfigureAwait(false))
        {
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>
    /// Each missing directory, readable and traversable by all: the backends run as other users (DynamicUser=yes), and
    /// ullmd's UMask=0027 would otherwise keep them out.
    /// </summary>
    private static void CreateDirectories(string directory)
    {
        var missing = new Stack<string>();
        for (var d = directory; !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
        {
            missing.Push(d);
        }

        while (missing.TryPop(out var d))
        {
            Directory.CreateDirectory(d);
            File.SetUnixFileMode(d, TraversableByAll);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "download: {Model}: {Message:l}")]
    private partial void LogDownload(string model, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "download: {Url} try {Attempt} failed, trying again: {Reason:l}")]
    private partial void LogRetry(Uri url, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "download: {Url} resumed at byte {Offset}")]
    private partial void LogResumed(Uri url, long offset);
}
