#!/usr/bin/env bash
# Prepares what the GPU machine needs to run bench/gpu/check.sh (it has no JDK, no Maven and no network):
#   gpu-bundle/jre25.tar.xz   a jlink'ed Java 25 runtime (xz: about 22 MB)
#   gpu-bundle/headscan.jar   the runnable jar
#   gpu-bundle/test/          test classes and the jars the tests need, JUnit's console launcher included
# gpu-bundle/ is ignored by git; name it in the device tool's carry list. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .mvn/find-jdk.sh
jdk=$(headscan_find_jdk) || { headscan_no_jdk_message; exit 1; }
out=gpu-bundle
rm -rf "$out" && mkdir -p "$out/test/lib"
JAVA_HOME=$jdk ./mvnw -q -B -DskipTests package test-compile
cp target/headscan.jar "$out/"
tar cf "$out/test/classes.tar" -C target test-classes
JAVA_HOME=$jdk ./mvnw -q -B dependency:copy-dependencies -Dheadscan.noSpark -DincludeScope=test -DoutputDirectory="$PWD/$out/test/lib"
JAVA_HOME=$jdk ./mvnw -q -B dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 \
  -DoutputDirectory="$PWD/$out/test"
rm -f "$out"/test/lib/openblas-*.jar   # already inside headscan.jar (the tests find it there)
modules=$("$jdk/bin/jdeps" --print-module-deps --ignore-missing-deps target/headscan.jar),java.management,jdk.unsupported,jdk.management
rm -rf /tmp/jre25
"$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --output /tmp/jre25
tar cJf "$out/jre25.tar.xz" -C /tmp jre25
rm -rf /tmp/jre25
du -sh "$out" "$out"/*
