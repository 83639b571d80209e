using System.Text;
using Microsoft.Net.Http.Headers;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// The <c>model</c> form field of a multipart/form-data body (RFC 7578), found by reading only the start of the body:
/// the bytes read so far (<see cref="Prefix"/>), where the field's value lies in them, and its value. The rest of the
/// body (the audio file, as a rule) stays unread in the request, to be streamed on.
/// </summary>
internal sealed class MultipartModelField
{
    private static readonly byte[] HeadersEnd = "\r\n\r\n"u8.ToArray();

    private MultipartModelField(byte[] prefix, int length, int valueStart, int valueEnd, string model)
    {
        Prefix = prefix;
        Length = length;
        ValueStart = valueStart;
        ValueEnd = valueEnd;
        Model = model;
    }

    /// <summary>The body's bytes read so far; the first <see cref="Length"/> of them count.</summary>
    public byte[] Prefix { get; }

    public int Length { get; }

    public int ValueStart { get; }

    public int ValueEnd { get; }

    public string Model { get; }

    /// <summary>The boundary of a multipart/form-data Content-Type, or a 400 naming what is wrong with it.</summary>
    public static string Boundary(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || !media.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            throw new GatewayException(400, $"Content-Type must be multipart/form-data with the audio as the 'file' field, not '{contentType}'", "Content-Type", "invalid_request");
        }

        var boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value;
        return string.IsNullOrEmpty(boundary) || boundary.Length > 70
            ? throw new GatewayException(400, "Content-Type multipart/form-data needs a boundary of 1 to 70 characters (RFC 2046)", "Content-Type", "invalid_request")
            : boundary;
    }

    /// <summary>
    /// Reads <paramref name="body"/> until the model field is complete, at most <paramref name="maxPrefix"/> bytes of it:
    /// a client that sends its file first must keep the file under that size or send the model first.
    /// </summary>
    public static async Task<MultipartModelField> ReadAsync(Stream body, string boundary, int maxPrefix, CancellationToken cancellationToken)
    {
        var delimiter = Encoding.ASCII.GetBytes("--" + boundary);
        var buffer = new byte[Math.Min(maxPrefix, 16 << 10)];
        var length = 0;
        while (true)
        {
            var found = Find(buffer.AsSpan(0, length), delimiter, out var ended);
            if (found is var (valueStart, valueEnd))
            {
                var model = Encoding.UTF8.GetString(buffer, valueStart, valueEnd - valueStart);
                return model.Length > 0
                    ? new MultipartModelField(buffer, length, valueStart, valueEnd, model)
                    : throw GatewayException.BadField("model", "must be a non-empty form field");
            }

            if (ended)
            {
                throw GatewayException.BadField("model", "is required: the multipart body has no 'model' form field");
            }

            if (length == maxPrefix)
            {
                throw GatewayException.BadField("model", $"was not found in the first {maxPrefix} bytes of the multipart body: send the 'model' field before the file");
            }

            if (length == buffer.Length)
            {
                Array.Resize(ref buffer, Math.Min(maxPrefix, buffer.Length * 2));
            }

            var read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                throw GatewayException.BadField("model", "is required: the multipart body ended without a 'model' form field");
            }

            length += read;
        }
    }

    /// <summary>
    /// The value range of the model field if it lies whole in <paramref name="data"/>; <paramref name="ended"/> when the
    /// closing delimiter came first.
    /// </summary>
    private static (int Start, int End)? Find(ReadOnlySpan<byte> data, byte[] delimiter, out bool ended)
    {
        ended = false;
        var at = data.IndexOf(delimiter);
        while (at >= 0)
        {
            var after = at + delimiter.Length;
            if (data.Length < after + 2)
            {
                return null;
            }

            if (data[after] == '-' && data[after + 1] == '-')
            {
                ended = true;
                return null;
            }

            var headersEnd = data[after..].IndexOf(HeadersEnd);
            if (headersEnd < 0)
            {
                return null;
            }

            var headers = Encoding.ASCII.GetString(data.Slice(after, headersEnd));
            var valueStart = after + headersEnd + HeadersEnd.Length;
            var next = NextDelimiter(data, valueStart, delimiter);
            if (next < 0)
            {
                return null;
            }

            if (IsModelField(headers))
            {
                return (valueStart, next);
            }

            at = next + 2;
        }

        return null;
    }

    /// <summary>Where the CRLF before the next delimiter starts, at or after <paramref name="from"/>; -1 if it has not arrived.</summary>
    private static int NextDelimiter(ReadOnlySpan<byte> data, int from, byte[] delimiter)
    {
        for (var i = from; i + 2 + delimiter.Length <= data.Length; i++)
        {
            var found = data[i..].IndexOf(delimiter);
            if (found < 0)
            {
                return -1;
            }

            var at = i + found;
            if (at >= from + 2 && data[at - 2] == '\r' && data[at - 1] == '\n')
            {
                return at - 2;
            }

            i = at;
        }

        return -1;
    }

    private static bool IsModelField(string headers)
    {
        foreach (var line in headers.Split("\r\n"))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim().Equals("Content-Disposition", StringComparison.OrdinalIgnoreCase)
                && ContentDispositionHeaderValue.TryParse(line[(colon + 1)..].Trim(), out var disposition))
            {
                return HeaderUtilities.RemoveQuotes(disposition.Name).Equals("model", StringComparison.Ordinal) && !disposition.FileName.HasValue;
            }
        }

        return false;
    }
}
