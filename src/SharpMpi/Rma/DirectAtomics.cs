using SharpMpi.Collectives;

namespace SharpMpi.Rma;

/// <summary>How the elements of a window whose memory every rank maps can be updated atomically in place.</summary>
internal enum DirectAtomicKind : byte
{
    /// <summary>No in-place atomics: the window is not direct, accumulates travel as messages.</summary>
    None,
    Int32,
    Int64,
    Float64,
    /// <summary>Any other 4-byte element: a compare-exchange loop around the reducer.</summary>
    Other32,
    /// <summary>Any other 8-byte element: a compare-exchange loop around the reducer.</summary>
    Other64,
    /// <summary>
    /// Elements of any other size: the reducer under the target's accumulate lock, a spin lock word in the shared
    /// memory (as Open MPI's osc/sm does), held for one call's elements and nothing else.
    /// </summary>
    Locked,
}

/// <summary>
/// Accumulate, GetAccumulate, FetchAndOp and CompareAndSwap applied by the origin itself, with
/// <see cref="Interlocked"/> on the target's memory, for windows in memory that every rank maps (shared
/// windows). Sum, Replace and NoOp on int, long and double are single interlocked instructions (or a short
/// compare-exchange loop for double); other operators and 4- or 8-byte types loop on compare-exchange around
/// the window's reducer; elements of other sizes are updated under the target rank's accumulate lock.
/// </summary>
/// <remarks>
/// MPI requires accumulates to one location to be atomic per element with respect to each other. That holds
/// because a window's element type fixes its kind: on a direct window every rank takes this path, with the
/// same kind, for every accumulate-family call, so none is ever applied by a target's message handler at the
/// same time. Elements are aligned to their size (each rank's part starts on 64 bytes).
/// </remarks>
internal static unsafe class DirectAtomics
{
    public static DirectAtomicKind KindOf<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(int))
            return DirectAtomicKind.Int32;
        if (typeof(T) == typeof(long))
            return DirectAtomicKind.Int64;
        if (typeof(T) == typeof(double))
            return DirectAtomicKind.Float64;
        return sizeof(T) switch
        {
            4 => DirectAtomicKind.Other32,
            8 => DirectAtomicKind.Other64,
            _ => DirectAtomicKind.Locked,
        };
    }

    /// <summary>
    /// target[i] = target[i] ∘ operand[i] for <paramref name="count"/> elements of <paramref name="elementSize"/>
    /// bytes, each atomically; the old values go to <paramref name="result"/> unless it is null.
    /// <paramref name="accumulateLock"/> is the target rank's lock word (used by <see cref="DirectAtomicKind.Locked"/>).
    /// </summary>
    public static void Accumulate(DirectAtomicKind kind, OpKind op, Reducer reducer, byte* target, byte* operand, byte* result, long count, int elementSize, int* accumulateLock)
    {
        if (kind == DirectAtomicKind.Locked)
        {
            long bytes = count * elementSize;
            Lock(accumulateLock);
            try
            {
                if (result != null)
                    Buffer.MemoryCopy(target, result, bytes, bytes);
                if (op != OpKind.NoOp)
                    reducer.Apply((nint)target, (nint)operand, (nint)target, count);
            }
            finally
            {
                Unlock(accumulateLock);
            }
        }
        else if (kind is DirectAtomicKind.Int32 or DirectAtomicKind.Other32)
        {
            for (long i = 0; i < count; i++)
            {
                int old = One32(kind, op, reducer, (int*)target + i, ((int*)operand)[i]);
                if (result != null)
                    ((int*)result)[i] = old;
            }
        }
        else
        {
            for (long i = 0; i < count; i++)
            {
                long old = One64(kind, op, reducer, (long*)target + i, ((long*)operand)[i]);
                if (result != null)
                    ((long*)result)[i] = old;
            }
        }
    }

    /// <summary>Replaces the element at <paramref name="target"/> with <paramref name="desired"/> if it equals <paramref name="compare"/> bit for bit; writes the old value.</summary>
    public static void CompareAndSwap(DirectAtomicKind kind, byte* target, byte* compare, byte* desired, byte* result, int elementSize, int* accumulateLock)
    {
        if (kind == DirectAtomicKind.Locked)
        {
            Lock(accumulateLock);
            var current = new Span<byte>(target, elementSize);
            current.CopyTo(new Span<byte>(result, elementSize));
            if (current.SequenceEqual(new ReadOnlySpan<byte>(compare, elementSize)))
                new ReadOnlySpan<byte>(desired, elementSize).CopyTo(current);
            Unlock(accumulateLock);
        }
        else if (kind is DirectAtomicKind.Int32 or DirectAtomicKind.Other32)
            *(int*)result = Interlocked.CompareExchange(ref *(int*)target, *(int*)desired, *(int*)compare);
        else
            *(long*)result = Interlocked.CompareExchange(ref *(long*)target, *(long*)desired, *(long*)compare);
    }

    private static int One32(DirectAtomicKind kind, OpKind op, Reducer reducer, int* target, int operand)
    {
        switch (op)
        {
            case OpKind.NoOp:
                return Volatile.Read(ref *target);
            case OpKind.Replace:
                return Interlocked.Exchange(ref *target, operand);
            case OpKind.Sum when kind == DirectAtomicKind.Int32:
                return Interlocked.Add(ref *target, operand) - operand;
            default:
                int old = Volatile.Read(ref *target);
                while (true)
                {
                    int next;
                    reducer.Apply((nint)(&old), (nint)(&operand), (nint)(&next), 1);
                    int seen = Interlocked.CompareExchange(ref *target, next, old);
                    if (seen == old)
                        return old;
                    old = seen;
                }
        }
    }

    private static long One64(DirectAtomicKind kind, OpKind op, Reducer reducer, long* target, long operand)
    {
        switch (op)
        {
            case OpKind.NoOp:
                return Volatile.Read(ref *target);
            case OpKind.Replace:
                return Interlocked.Exchange(ref *target, operand);
            case OpKind.Sum when kind == DirectAtomicKind.Int64:
                return Interlocked.Add(ref *target, operand) - operand;
            case OpKind.Sum when kind == DirectAtomicKind.Float64:
                {
                    double add = BitConverter.Int64BitsToDouble(operand);
                    long old = Volatile.Read(ref *target);
                    while (true)
                    {
                        long next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(old) + add);
                        long seen = Interlocked.CompareExchange(ref *target, next, old);
                        if (seen == old)
                            return old;
                        old = seen;
                    }
                }
            default:
                {
                    long old = Volatile.Read(ref *target);
                    while (true)
                    {
                        long next;
                        reducer.Apply((nint)(&old), (nint)(&operand), (nint)(&next), 1);
                        long seen = Interlocked.CompareExchange(ref *target, next, old);
                        if (seen == old)
                            return old;
                        old = seen;
                    }
                }
        }
    }

    /// <summary>
    /// Takes an accumulate lock word (0 free, 1 held). It is held only for the few copies of one call, never
    /// across an MPI call, so spinning (then yielding, as <see cref="SpinWait"/> does) always ends.
    /// </summary>
    private static void Lock(int* word)
    {
        if (Interlocked.CompareExchange(ref *word, 1, 0) == 0)
            return;
        var spin = default(SpinWait);
        do
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
        while (Volatile.Read(ref *word) != 0 || Interlocked.CompareExchange(ref *word, 1, 0) != 0);
    }

    /// <summary>Interlocked: a full barrier, so the updates are visible before the lock is seen free.</summary>
    private static void Unlock(int* word) => Interlocked.Exchange(ref *word, 0);
}
