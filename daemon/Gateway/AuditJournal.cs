using System.Buffers;
using System.Globalization;
using System.Text.Json;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// The audit rows on their way to SQLite, appended to a file beside the database as each request ends: one write() a
/// row, a line of JSON, with no wait for a transaction. What a process wrote stays in the kernel's page cache when the
/// process is killed, as SQLite's WAL does under <c>synchronous = NORMAL</c>, so a client that saw its answer end can
/// count on its row surviving a SIGKILL (and, as with the WAL, not a power cut). <see cref="AuditWriter"/> writes the
/// rows into SQLite in batches at its own pace, empties the file once every row in it is written, and at start writes
/// what a killed ullmd left in it before any request is served. Not thread-safe: <see cref="AuditQueue"/> calls it
/// under its lock, which also keeps the file's order the queue's.
/// </summary>
internal sealed class AuditJournal : IDisposable
{
    /// <summary>Past this size the file is set aside (and deleted once its rows are written) and a new one started.</summary>
    public const long RotateBytes = 4 << 20;

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly ArrayBufferWriter<byte> line = new(1024);
    private readonly Utf8JsonWriter json;
    private FileStream? file;

    public AuditJournal(string path, long rotateAt = RotateBytes)
    {
        Path = path;
        RotateAt = rotateAt;
        // The line's shape is fixed by Write below: checking each token's place again for every row is work for nothing.
        json = new Utf8JsonWriter(line, new JsonWriterOptions { SkipValidation = true });
    }

    public string Path { get; }

    /// <summary>The size past which the file is set aside (<see cref="RotateBytes"/>, smaller in tests).</summary>
    public long RotateAt { get; }

    public string RotatedPath => Path + ".1";

    /// <summary>The current file's length.</summary>
    public long Length => file?.Length ?? 0;

    /// <summary>Whether the last write failed (the disk full, the file gone): then answers wait for SQLite again.</summary>
    public bool Failed { get; private set; }

    /// <summary>Rows left in the journal (the set-aside file's first) by a ullmd that did not drain it; lines that do not parse are reported.</summary>
    public static IReadOnlyList<AuditRow> ReadLeftover(string path, Action<string> badLine)
    {
        var rows = new List<AuditRow>();
        foreach (var file in new[] { path + ".1", path })
        {
            if (!File.Exists(file))
            {
                continue;
            }

            var number = 0;
            foreach (var text in File.ReadLines(file))
            {
                number++;
                if (text.Length == 0)
                {
                    continue;
                }

                try
                {
                    rows.Add(Parse(text));
                }
                catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
                {
                    badLine($"{file}:{number.ToString(CultureInfo.InvariantCulture)}: {e.Message}");
                }
            }
        }

        return rows;
    }

    /// <summary>Opens the journal empty: whatever it held was written to SQLite before this.</summary>
    public void Open()
    {
        File.Delete(RotatedPath);
        file = Create(Path);
    }

    /// <summary>Appends the row; false (and <see cref="Failed"/>) when the file cannot take it.</summary>
    public bool TryAppend(AuditRow row)
    {
        if (file is null || Failed)
        {
            return false;
        }

        line.ResetWrittenCount();
        json.Reset();
        Write(json, row);
        json.Flush();
        line.Write("\n"u8);
        try
        {
            // A write to the page cache takes microseconds; an await here would cost a thread hop per request, the very
            // cost this file exists to save.
            file.Write(line.WrittenSpan);
            return true;
        }
        catch (IOException)
        {
            Failed = true;
            return false;
        }
    }

    /// <summary>Every row appended is in SQLite: the file starts again empty, and a set-aside file goes.</summary>
    public void Clear()
    {
        if (file is null)
        {
            return;
        }

        try
        {
            file.SetLength(0);
            File.Delete(RotatedPath);
            Failed = false;
        }
        catch (IOException)
        {
            Failed = true;
        }
    }

    /// <summary>Sets the current file aside (its rows still to be written) and starts a new one.</summary>
    public void Rotate()
    {
        if (file is null)
        {
            return;
        }

        try
        {
            file.Dispose();
            File.Move(Path, RotatedPath, overwrite: true);
            file = Create(Path);
        }
        catch (IOException)
        {
            Failed = true;
        }
    }

    /// <summary>The set-aside file's rows are all in SQLite.</summary>
    public void DeleteRotated()
    {
        try
        {
            File.Delete(RotatedPath);
        }
        catch (IOException)
        {
            Failed = true;
        }
    }

    public void Dispose()
    {
        file?.Dispose();
        json.Dispose();
    }

    // Unbuffered: each row goes to the kernel in the write() of its own request.
    private static FileStream Create(string path) => new(path, new FileStreamOptions
    {
        Mode = FileMode.Create,
        Access = FileAccess.Write,
        Share = FileShare.Read,
        BufferSize = 0,
        UnixCreateMode = OwnerOnly,
    });

    private static void Write(Utf8JsonWriter json, AuditRow row)
    {
        json.WriteStartObject();
        json.WriteString(Names.RequestId, row.RequestId);
        json.WriteNumber(Names.AtMs, row.Time.ToUnixTimeMilliseconds());
        json.WriteString(Names.KeyId, row.KeyId);
        json.WriteString(Names.Client, row.Client);
        json.WriteString(Names.ModelRequested, row.ModelRequested);
        json.WriteString(Names.Target, row.Target);
        json.WriteStartArray(Names.FallbackPath);
        // By index: a foreach over the interface would allocate an enumerator for every row.
        for (var i = 0; i < row.FallbackPath.Count; i++)
        {
            json.WriteStringValue(row.FallbackPath[i]);
        }

        json.WriteEndArray();
        json.WriteNumber(Names.HttpStatus, row.HttpStatus);
        json.WriteString(Names.Outcome, row.Outcome);
        json.WriteNumber(Names.PromptTokens, row.PromptTokens);
        json.WriteNumber(Names.CompletionTokens, row.CompletionTokens);
        json.WriteBoolean(Names.TokensEstimated, row.TokensEstimated);
        if (row.TtftMs is { } ttft)
        {
            json.WriteNumber(Names.TtftMs, ttft);
        }

        json.WriteNumber(Names.LatencyMs, row.LatencyMs);
        json.WriteNumber(Names.Cost, row.Cost);
        json.WriteString(Names.Error, row.Error);
        json.WriteString(Names.Cache, row.Cache);
        json.WriteEndObject();
    }

    private static AuditRow Parse(string text)
    {
        using var document = JsonDocument.Parse(text);
        var r = document.RootElement;
        return new AuditRow(
            r.GetProperty("request_id").GetString()!,
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetProperty("at_ms").GetInt64()),
            r.GetProperty("key_id").GetString(),
            r.GetProperty("client").GetString()!,
            r.GetProperty("model_requested").GetString()!,
            r.GetProperty("target").GetString(),
            [.. r.GetProperty("fallback_path").EnumerateArray().Select(s => s.GetString()!)],
            r.GetProperty("http_status").GetInt32(),
            r.GetProperty("outcome").GetString()!,
            r.GetProperty("prompt_tokens").GetInt64(),
            r.GetProperty("completion_tokens").GetInt64(),
            r.GetProperty("tokens_estimated").GetBoolean(),
            r.TryGetProperty("ttft_ms", out var ttft) ? ttft.GetInt64() : null,
            r.GetProperty("latency_ms").GetInt64(),
            r.GetProperty("cost").GetDouble(),
            r.GetProperty("error").GetString())
        {
            Cache = r.GetProperty("cache").GetString(),
        };
    }

    /// <summary>The line's property names, escaped once rather than for every row.</summary>
    private static class Names
    {
        public static readonly JsonEncodedText RequestId = JsonEncodedText.Encode("request_id");

        public static readonly JsonEncodedText AtMs = JsonEncodedText.Encode("at_ms");

        public static readonly JsonEncodedText KeyId = JsonEncodedText.Encode("key_id");

        public static readonly JsonEncodedText Client = JsonEncodedText.Encode("client");

        public static readonly JsonEncodedText ModelRequested = JsonEncodedText.Encode("model_requested");

        public static readonly JsonEncodedText Target = JsonEncodedText.Encode("target");

        public static readonly JsonEncodedText FallbackPath = JsonEncodedText.Encode("fallback_path");

        public static readonly JsonEncodedText HttpStatus = JsonEncodedText.Encode("http_status");

        public static readonly JsonEncodedText Outcome = JsonEncodedText.Encode("outcome");

        public static readonly JsonEncodedText PromptTokens = JsonEncodedText.Encode("prompt_tokens");

        public static readonly JsonEncodedText CompletionTokens = JsonEncodedText.Encode("completion_tokens");

        public static readonly JsonEncodedText TokensEstimated = JsonEncodedText.Encode("tokens_estimated");

        public static readonly JsonEncodedText TtftMs = JsonEncodedText.Encode("ttft_ms");

        public static readonly JsonEncodedText LatencyMs = JsonEncodedText.Encode("latency_ms");

        public static readonly JsonEncodedText Cost = JsonEncodedText.Encode("cost");

        public static readonly JsonEncodedText Error = JsonEncodedText.Encode("error");

        public static readonly JsonEncodedText Cache = JsonEncodedText.Encode("cache");
    }
}
