using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace UnifiedLlm.Tests.Models.Download;

/// <summary>
/// A real HTTP file server on loopback (Kestrel) for the download tests: serves the files the test puts in
/// <see cref="Files"/> by path, honours <c>Range: bytes=N-</c> with 206 and Content-Range, and records every request's
/// method, path, Range and Authorization headers, and can pace its bodies. Faults per path: a redirect, a status to answer instead, a connection dropped
/// after some bytes (once), a body without Content-Length, and a gate that holds the answer until the test opens it.
/// </summary>
internal sealed class FileServer : IAsyncDisposable
{
    private readonly WebApplication app;

    private FileServer(WebApplication app) => this.app = app;

    public ConcurrentDictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, int> Statuses { get; } = new(StringComparer.Ordinal);

    /// <summary>The first GET of the path sends this many bytes of the body, then the connection is aborted.</summary>
    public ConcurrentDictionary<string, long> DropOnceAfter { get; } = new(StringComparer.Ordinal);

    /// <summary>Paths answered with a 302 to another URL, as the hub answers a file with a redirect to its storage.</summary>
    public ConcurrentDictionary<string, Uri> Redirects { get; } = new(StringComparer.Ordinal);

    /// <summary>Paths whose bodies go without Content-Length (chunked).</summary>
    public ConcurrentDictionary<string, bool> Unsized { get; } = new(StringComparer.Ordinal);

    /// <summary>Each body is sent in 20 pieces spread over this time, so that a download shows progress; zero: at once.</summary>
    public TimeSpan PacedOver { get; set; }

    /// <summary>When set, every answer waits for it.</summary>
    public TaskCompletionSource? Hold { get; set; }

    public ConcurrentQueue<ServedRequest> Requests { get; } = new();

    public Uri BaseAddress { get; private set; } = null!;

    public static async Task<FileServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var server = new FileServer(app);
        app.Run(server.ServeAsync);
        await app.StartAsync();
        server.BaseAddress = new Uri(app.Urls.First() + "/");
        return server;
    }

    public Uri Url(string path) => new(BaseAddress, path);

    public ValueTask DisposeAsync() => app.DisposeAsync();

    private async Task ServeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value!.TrimStart('/');
        var range = context.Request.Headers.Range.ToString();
        Requests.Enqueue(new ServedRequest(context.Request.Method, path, range, context.Request.Headers.Authorization.ToString()));
        if (Hold is { } hold)
        {
            await hold.Task;
        }

        if (Redirects.TryGetValue(path, out var location))
        {
            context.Response.StatusCode = 302;
            context.Response.Headers.Location = location.AbsoluteUri;
            return;
        }

        if (Statuses.TryGetValue(path, out var status))
        {
            context.Response.StatusCode = status;
            await context.Response.WriteAsync($"status {status} for {path}");
            return;
        }

        if (!Files.TryGetValue(path, out var content))
        {
            context.Response.StatusCode = 404;
            await context.Response.WriteAsync("Entry not found");
            return;
        }

        var start = 0L;
        if (range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range["bytes=".Length..^1], CultureInfo.InvariantCulture);
            if (start >= content.Length)
            {
                context.Response.StatusCode = 416;
                context.Response.Headers.ContentRange = $"bytes */{content.Length}";
                return;
            }

            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }

        if (!Unsized.ContainsKey(path))
        {
            context.Response.ContentLength = content.Length - start;
        }

        context.Response.ContentType = "application/octet-stream";
        if (DropOnceAfter.TryRemove(path, out var drop))
        {
            await context.Response.Body.WriteAsync(content.AsMemory((int)start, (int)Math.Min(drop, content.Length - start)));
            await context.Response.Body.FlushAsync();
            context.Abort();
            return;
        }

        const int Pieces = 20;
        var rest = content.AsMemory((int)start);
        var piece = PacedOver > TimeSpan.Zero ? (rest.Length + Pieces - 1) / Pieces : Math.Max(rest.Length, 1);
        for (var offset = 0; offset < rest.Length; offset += piece)
        {
            await context.Response.Body.WriteAsync(rest.Slice(offset, Math.Min(piece, rest.Length - offset)), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            if (PacedOver > TimeSpan.Zero)
            {
                await Task.Delay(PacedOver / Pieces, context.RequestAborted);
            }
        }
    }
}

internal sealed record ServedRequest(string Method, string Path, string Range, string Authorization);
