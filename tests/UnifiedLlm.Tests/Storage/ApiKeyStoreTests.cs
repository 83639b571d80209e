using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Storage;

public sealed class ApiKeyStoreTests : IAsyncLifetime
{
    private readonly TempDirectory dir = new();
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private ApiKeyStore keys = null!;

    public async ValueTask InitializeAsync() =>
        keys = new ApiKeyStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None), time);

    public ValueTask DisposeAsync()
    {
        dir.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_created_secret_authenticates_and_only_its_hash_is_stored()
    {
        var (key, secret) = await keys.CreateAsync("ci", ["tiny"], 60, 1000, null, CancellationToken.None);

        Assert.StartsWith("ullm-", secret);
        Assert.Equal(secret[..11], key.Prefix);
        var found = await keys.AuthenticateAsync(secret, CancellationToken.None);
        Assert.Equal(key.Id, found?.Id);
        Assert.Equal(["tiny"], found!.Models);
        Assert.Null(await keys.AuthenticateAsync(secret + "x", CancellationToken.None));
        Assert.Null(await keys.AuthenticateAsync("sk-" + secret, CancellationToken.None));
        var dbBytes = await File.ReadAllBytesAsync(dir.File("ullm.db"));
        var walBytes = File.Exists(dir.File("ullm.db-wal")) ? await File.ReadAllBytesAsync(dir.File("ullm.db-wal")) : [];
        Assert.DoesNotContain(secret, System.Text.Encoding.ASCII.GetString([.. dbBytes, .. walBytes]));
    }

    [Fact]
    public async Task Revoked_and_expired_keys_no_longer_authenticate()
    {
        var (_, revoked) = await keys.CreateAsync("a", [], 0, 0, null, CancellationToken.None);
        var (_, expiring) = await keys.CreateAsync("b", [], 0, 0, time.GetUtcNow().AddHours(1), CancellationToken.None);

        var result = await keys.RevokeAsync("a", CancellationToken.None);
        time.Advance(TimeSpan.FromHours(2));

        Assert.NotNull(result?.RevokedAt);
        Assert.Null(await keys.AuthenticateAsync(revoked, CancellationToken.None));
        Assert.Null(await keys.AuthenticateAsync(expiring, CancellationToken.None));
        Assert.Equal(0, await keys.CountActiveAsync(CancellationToken.None));
        Assert.Equal(["b"], (await keys.ListAsync(false, CancellationToken.None)).Select(k => k.Name));
        Assert.Equal(["a", "b"], (await keys.ListAsync(true, CancellationToken.None)).Select(k => k.Name));
    }

    [Fact]
    public async Task Names_are_unique_and_revoking_an_unknown_key_finds_nothing()
    {
        await keys.CreateAsync("dup", [], 0, 0, null, CancellationToken.None);

        await Assert.ThrowsAsync<DuplicateKeyNameException>(() => keys.CreateAsync("dup", [], 0, 0, null, CancellationToken.None));
        Assert.Null(await keys.RevokeAsync("nope", CancellationToken.None));
    }

    [Fact]
    public async Task Authentication_records_the_last_use()
    {
        var (key, secret) = await keys.CreateAsync("used", [], 0, 0, null, CancellationToken.None);
        time.Advance(TimeSpan.FromMinutes(5));

        await keys.AuthenticateAsync(secret, CancellationToken.None);

        var listed = Assert.Single(await keys.ListAsync(false, CancellationToken.None));
        Assert.Equal(key.CreatedAt.AddMinutes(5), listed.LastUsedAt);
        Assert.Equal(1, await keys.RecordUsesAsync(CancellationToken.None));
        Assert.Equal(0, await keys.RecordUsesAsync(CancellationToken.None));
        var reopened = new ApiKeyStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None), time);
        Assert.Equal(key.CreatedAt.AddMinutes(5), Assert.Single(await reopened.ListAsync(false, CancellationToken.None)).LastUsedAt);
    }

    [Fact]
    public async Task Keyed_requests_authenticate_while_another_process_holds_the_database_locked()
    {
        var (key, secret) = await keys.CreateAsync("busy", [], 0, 0, null, CancellationToken.None);
        Assert.NotNull(await keys.AuthenticateAsync(secret, CancellationToken.None));

        // Another connection holds the write lock, as a second process with an open transaction would.
        await using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={dir.File("ullm.db")};Pooling=False");
        await other.OpenAsync();
        await using (var begin = other.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync();
        }

        time.Advance(TimeSpan.FromMinutes(1));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(key.Id, (await keys.AuthenticateAsync(secret, CancellationToken.None))?.Id);
        }

        // No wait on the lock: the database's busy timeout is seconds, a hundred lookups in memory take microseconds.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"100 authentications took {clock.Elapsed}");
        await Assert.ThrowsAsync<Microsoft.Data.Sqlite.SqliteException>(() => keys.RecordUsesAsync(CancellationToken.None));

        await using (var rollback = other.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }

        Assert.Equal(1, await keys.RecordUsesAsync(CancellationToken.None));
        Assert.Equal(time.GetUtcNow(), Assert.Single(await keys.ListAsync(false, CancellationToken.None)).LastUsedAt);
    }

    [Fact]
    public async Task A_key_revoked_after_it_was_read_into_memory_is_refused_at_once()
    {
        var (_, secret) = await keys.CreateAsync("soon-gone", [], 0, 0, null, CancellationToken.None);
        Assert.NotNull(await keys.AuthenticateAsync(secret, CancellationToken.None));

        await keys.RevokeAsync("soon-gone", CancellationToken.None);

        Assert.Null(await keys.AuthenticateAsync(secret, CancellationToken.None));
    }
}
