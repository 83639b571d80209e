using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>
/// An audio server in OpenAI's shapes, as whisper.cpp's server (run with <c>--inference-path /v1/audio/transcriptions</c>)
/// and OpenAI-compatible TTS servers speak them:
/// <list type="bullet">
/// <item>POST /v1/audio/transcriptions and /v1/audio/translations: multipart/form-data with <c>file</c> (required),
/// <c>model</c>, <c>response_format</c> (json, the default, text or verbose_json), <c>language</c>. The file is read as it
/// arrives (never held whole); the "transcript" names its file, size and sha256, so a test can tell the upload arrived
/// intact. No file: 400 with OpenAI's error object.</item>
/// <item>POST /v1/audio/speech: JSON <c>{model, input, voice, response_format}</c> (wav, the default here, or pcm) →
/// 16-bit mono PCM at 24 kHz, one second per word of the input, written in half-second pieces, each flushed.</item>
/// </list>
/// Each request is recorded (its fields, and the file's name, size and digest).
/// </summary>
internal static class FakeAudio
{
    private const int SampleRate = 24_000;

    public static async Task<int> ServeAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = null);
        await using var app = builder.Build();
        app.MapGet("/health", () => Results.Ok());
        app.MapPost("/v1/audio/transcriptions", context => TranscribeAsync(context, "transcription"));
        app.MapPost("/v1/audio/translations", context => TranscribeAsync(context, "translation"));
        app.MapPost("/v1/audio/speech", SpeakAsync);
        await app.StartAsync();
        Console.WriteLine($"fake-audio: listening on 127.0.0.1:{port}");
        await app.WaitForShutdownAsync();
        return 0;
    }

    private static async Task TranscribeAsync(HttpContext context, string task)
    {
        var boundary = MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var media) ? HeaderUtilities.RemoveQuotes(media.Boundary).Value : null;
        if (string.IsNullOrEmpty(boundary))
        {
            await ErrorAsync(context, "Content-Type must be multipart/form-data");
            return;
        }

        var fields = new JsonObject();
        JsonObject? file = null;
        var reader = new MultipartReader(boundary, context.Request.Body);
        while (await reader.ReadNextSectionAsync(context.RequestAborted) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition))
            {
                continue;
            }

            var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
            if (disposition.FileName.HasValue || disposition.FileNameStar.HasValue)
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[64 << 10];
                long bytes = 0;
                int read;
                while ((read = await section.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    bytes += read;
                }

                file = new JsonObject
                {
                    ["field"] = name,
                    ["filename"] = HeaderUtilities.RemoveQuotes(disposition.FileName).Value,
                    ["bytes"] = bytes,
                    ["sha256"] = Convert.ToHexStringLower(sha.GetHashAndReset()),
                };
            }
            else
            {
                using var text = new StreamReader(section.Body, Encoding.UTF8);
                fields[name] = await text.ReadToEndAsync(context.RequestAborted);
            }
        }

        FakeRecord.Request(context.Request.Path, new JsonObject { ["fields"] = fields, ["file"] = file });
        if (file is null || (string?)file["field"] != "file")
        {
            await ErrorAsync(context, "No file was provided: send the audio as the 'file' form field");
            return;
        }

        var transcript = $"{task} of {file["filename"]}: {file["bytes"]} bytes, sha256 {file["sha256"]}, model {fields["model"]}";
        switch ((string?)fields["response_format"] ?? "json")
        {
            case "text":
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync(transcript + "\n");
                break;
            case "verbose_json":
                await context.Response.WriteAsJsonAsync(new JsonObject
                {
                    ["task"] = task == "transcription" ? "transcribe" : "translate",
                    ["language"] = (string?)fields["language"] ?? "english",
                    ["duration"] = 0.0,
                    ["text"] = transcript,
                    ["segments"] = new JsonArray(),
                });
                break;
            case "json":
                await context.Response.WriteAsJsonAsync(new JsonObject { ["text"] = transcript });
                break;
            case var other:
                await ErrorAsync(context, $"response_format '{other}' is not one of json, text, verbose_json");
                break;
        }
    }

    private static async Task SpeakAsync(HttpContext context)
    {
        var request = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        FakeRecord.Request(context.Request.Path, request);
        if (request?["input"] is not JsonValue input || !input.TryGetValue<string>(out var text) || text.Length == 0)
        {
            await ErrorAsync(context, "input: a non-empty string is required");
            return;
        }

        var format = (string?)request["response_format"] ?? "wav";
        if (format is not ("wav" or "pcm"))
        {
            await ErrorAsync(context, $"response_format '{format}' is not supported by this server (wav, pcm)");
            return;
        }

        var seconds = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        var dataBytes = seconds * SampleRate * 2;
        context.Response.ContentType = format == "wav" ? "audio/wav" : "audio/pcm";
        context.Response.ContentLength = dataBytes + (format == "wav" ? 44 : 0);
        if (format == "wav")
        {
            await context.Response.Body.WriteAsync(WavHeader(dataBytes), context.RequestAborted);
        }

        var piece = new byte[SampleRate];
        for (var written = 0; written < dataBytes; written += piece.Length)
        {
            for (var i = 0; i < piece.Length / 2; i++)
            {
                var sample = (short)(8000 * Math.Sin(2 * Math.PI * 440 * (((written / 2) + i) / (double)SampleRate)));
                BinaryPrimitives.WriteInt16LittleEndian(piece.AsSpan(i * 2), sample);
            }

            await context.Response.Body.WriteAsync(piece, context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }
    }

    /// <summary>A canonical 44-byte RIFF/WAVE header for 16-bit mono PCM.</summary>
    private static byte[] WavHeader(int dataBytes)
    {
        var header = new byte[44];
        Encoding.ASCII.GetBytes("RIFF").CopyTo(header, 0);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), 36 + dataBytes);
        Encoding.ASCII.GetBytes("WAVEfmt ").CopyTo(header, 8);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), 16);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(20), 1);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(22), 1);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(24), SampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(28), SampleRate * 2);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(32), 2);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(34), 16);
        Encoding.ASCII.GetBytes("data").CopyTo(header, 36);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(40), dataBytes);
        return header;
    }

    private static async Task ErrorAsync(HttpContext context, string message)
    {
        context.Response.StatusCode = 400;
        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["error"] = new JsonObject { ["message"] = message, ["type"] = "invalid_request_error", ["param"] = null, ["code"] = null },
        });
    }
}
