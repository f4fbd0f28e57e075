package io.fraudlake.connect.s3;

/** The connector's version: the jar manifest's Implementation-Version (the pom's version). */
final class Version {

    private Version() {}

    static String get() {
        String version = Version.class.getPackage().getImplementationVersion();
        return version != null ? version : "0.0.0-dev";
    }
}
