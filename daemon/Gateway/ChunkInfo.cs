using System.Text;
using System.Text.Json;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>What the gateway needs from one OpenAI stream chunk or response body: content, finish, usage, or an error.</summary>
internal readonly record struct ChunkInfo(bool HasContent, bool Finished, bool UsageOnly, long? PromptTokens, long? CompletionTokens, int ContentChars, string? Error)
{
    /// <summary>The stream's last event (a Responses API stream's response.completed); an OpenAI stream ends with [DONE] instead.</summary>
    public bool EndsStream { get; init; }

    /// <summary>Reads a chunk or whole body in <paramref name="format"/>.</summary>
    public static ChunkInfo Inspect(WireFormat format, ReadOnlyMemory<byte> json) =>
        format == WireFormat.Responses ? Responses.ResponsesEventInfo.Inspect(json) : Inspect(json);

    /// <summary>
    /// Reads a chunk in one forward pass without building a document (every response and every stream chunk goes
    /// through here); malformed JSON throws <see cref="JsonException"/>.
    /// </summary>
    public static ChunkInfo Inspect(ReadOnlyMemory<byte> json)
    {
        var span = json.Span;
        var reader = new Utf8JsonReader(span);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("a chunk must be a JSON object");
        }

        string? error = null;
        var choices = new Choices();
        bool data = false, hasUsage = false;
        long? prompt = null, completion = null;
        while (NextProperty(ref reader))
        {
            if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                error = ErrorMessage(ref reader, span) ?? error;
            }
            else if (reader.ValueTextEquals("choices"u8))
            {
                reader.Read();
                choices = ReadChoices(ref reader);
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                data = reader.TokenType == JsonTokenType.StartArray;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    hasUsage = true;
                    (prompt, completion) = ReadUsage(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (reader.Read())
        {
            throw new JsonException("a chunk must be one JSON object");
        }

        if (error is not null)
        {
            return new ChunkInfo(false, false, false, null, null, 0, error);
        }

        completion = hasUsage ? completion ?? 0 : null;
        var content = choices.Content || choices.Chars > 0 || data;
        return new ChunkInfo(content, choices.Finished, !choices.Any && prompt is not null, prompt, completion, choices.Chars, null);
    }

    /// <summary>Moves to the next property name of the current object; false at its end.</summary>
    private static bool NextProperty(ref Utf8JsonReader reader)
    {
        return reader.Read() && reader.TokenType == JsonTokenType.PropertyName;
    }

    /// <summary>An error object's message, a string error as it is, other values as their JSON; null for <c>"error": null</c>.</summary>
    private static string? ErrorMessage(ref Utf8JsonReader reader, ReadOnlySpan<byte> json)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.StartObject:
                var start = (int)reader.TokenStartIndex;
                string? message = null;
                while (NextProperty(ref reader))
                {
                    var isMessage = reader.ValueTextEquals("message"u8);
                    reader.Read();
                    if (isMessage && message is null)
                    {
                        message = reader.TokenType == JsonTokenType.String ? reader.GetString() : RawValue(ref reader, json);
                    }
                    else
                    {
                        reader.Skip();
                    }
                }

                return message ?? Encoding.UTF8.GetString(json[start..(int)reader.BytesConsumed]);
            default:
                return RawValue(ref reader, json);
        }
    }

    private static string RawValue(ref Utf8JsonReader reader, ReadOnlySpan<byte> json)
    {
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        return Encoding.UTF8.GetString(json[start..(int)reader.BytesConsumed]);
    }

    private static Choices ReadChoices(ref Utf8JsonReader reader)
    {
        var result = new Choices();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return result;
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            result.Any = true;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            // The text is the delta's (streams), else the message's (whole responses), else the choice's own (completions).
            Part own = default, delta = default, message = default;
            bool hasDelta = false, hasMessage = false;
            while (NextProperty(ref reader))
            {
                if (reader.ValueTextEquals("finish_reason"u8))
                {
                    reader.Read();
                    result.Finished |= reader.TokenType == JsonTokenType.String;
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    reader.Read();
                    hasDelta = true;
                    delta = ReadPart(ref reader);
                }
                else if (reader.ValueTextEquals("message"u8))
                {
                    reader.Read();
                    hasMessage = true;
                    message = ReadPart(ref reader);
                }
                else
                {
                    own.Add(ref reader);
                }
            }

            var part = hasDelta ? delta : hasMessage ? message : own;
            result.Chars += part.Chars;
            result.Content |= part.ToolCalls;
        }

        return result;
    }

    private static Part ReadPart(ref Utf8JsonReader reader)
    {
        var part = default(Part);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return part;
        }

        while (NextProperty(ref reader))
        {
            part.Add(ref reader);
        }

        return part;
    }

    private static (long? Prompt, long? Completion) ReadUsage(ref Utf8JsonReader reader)
    {
        long? prompt = null, completion = null;
        while (NextProperty(ref reader))
        {
            var isPrompt = reader.ValueTextEquals("prompt_tokens"u8);
            var isCompletion = !isPrompt && reader.ValueTextEquals("completion_tokens"u8);
            reader.Read();
            if ((isPrompt || isCompletion) && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
            {
                (isPrompt ? ref prompt : ref completion) = value;
            }
            else
            {
                reader.Skip();
            }
        }

        return (prompt, completion);
    }

    private struct Choices
    {
        public bool Any;
        public bool Finished;
        public bool Content;
        public int Chars;
    }

    /// <summary>The text and tool calls of a delta, a message or a choice itself.</summary>
    private struct Part
    {
        public int Chars;
        public bool ToolCalls;

        /// <summary>Reads the value of the property the reader is on, counting it if it is text or tool calls.</summary>
        public void Add(ref Utf8JsonReader reader)
        {
            var isText = reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("text"u8) || reader.ValueTextEquals("reasoning_content"u8);
            var isToolCalls = !isText && reader.ValueTextEquals("tool_calls"u8);
            reader.Read();
            if (isText && reader.TokenType == JsonTokenType.String)
            {
                Chars += reader.ValueIsEscaped ? reader.GetString()!.Length : Encoding.UTF8.GetCharCount(reader.ValueSpan);
            }
            else if (isToolCalls && reader.TokenType == JsonTokenType.StartArray)
            {
                // A copy of the reader peeks at the array's first token without moving this one.
                var peek = reader;
                ToolCalls |= peek.Read() && peek.TokenType != JsonTokenType.EndArray;
                reader.Skip();
            }
            else
            {
                reader.Skip();
            }
        }
    }
}
