package io.fraudlake.connect.s3;

/** Where finished Parquet objects go: S3 in production, a map in unit tests. */
interface ObjectStore extends AutoCloseable {

    /**
     * Store {@code content} under {@code key}, replacing any object of that name; returns only once the
     * object is durable. Throws a RuntimeException when it is not.
     */
    void put(String key, byte[] content);

    /** A human-readable location of {@code key} for messages, e.g. s3://bucket/key. */
    String describe(String key);

    @Override
    void close();
}
