using System.Diagnostics.CodeAnalysis;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>What the scheduler answers: a <typeparamref name="T"/>, or the <see cref="LeaseFailure"/> saying why not.</summary>
internal sealed class Outcome<T>
    where T : class
{
    private Outcome(T? value, LeaseFailure? failure)
    {
        Value = value;
        Failure = failure;
    }

    public T? Value { get; }

    public LeaseFailure? Failure { get; }

    [MemberNotNullWhen(true, nameof(Value))]
    [MemberNotNullWhen(false, nameof(Failure))]
    public bool Succeeded => Failure is null;

    public static implicit operator Outcome<T>(T value) => Of(value);

    public static implicit operator Outcome<T>(LeaseFailure failure) => Failed(failure);

    public static Outcome<T> Of(T value) => new(value, null);

    public static Outcome<T> Failed(LeaseFailure failure) => new(null, failure);
}
