package dev.turnout.proto.image;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The device's check of an archive against the release it signs, before any engine sees it: the archive must hold
 * exactly the signed image, named the same way for both image stores (the OCI index a containerd store reads and the
 * manifest.json a classic store reads), with every blob intact. Each way to differ has its own reason.
 */
public final class ArchiveCheck {

    /** The archive is not the signed image; {@link #reason()} says how it differs. */
    public static final class Mismatch extends Exception {
        private final Reason reason;

        Mismatch(Reason reason, String message) {
            super(message);
            this.reason = reason;
        }

        public Reason reason() {
            return reason;
        }
    }

    private ArchiveCheck() {
    }

    /** Passes when {@code archive} holds exactly the image {@code signed} describes; else says how it differs. */
    public static void verify(ArchiveEntries archive, ImageArtifact signed) throws Mismatch {
        try {
            if (signed.getManifestDigest().isEmpty()) {
                verifyLegacy(archive, signed);
            } else {
                verifyLayout(archive, signed);
            }
        } catch (InvalidImageArchiveException e) {
            throw new Mismatch(Reason.MALFORMED, "unreadable image archive: " + e.getMessage());
        }
    }

    private static void verifyLayout(ArchiveEntries archive, ImageArtifact signed) throws Mismatch, InvalidImageArchiveException {
        if (!archive.has("index.json") || !archive.has("oci-layout")) {
            throw new Mismatch(Reason.MANIFEST_MISMATCH, "the archive has no OCI index; the release signs manifest " + signed.getManifestDigest());
        }
        // exactly one image, in both indexes
        Set<String> named = new LinkedHashSet<>();
        for (JsonNode descriptor : ImageArchive.json(archive, "index.json").path("manifests")) {
            named.add(descriptor.path("digest").asText());
        }
        JsonNode dockerManifest = archive.has("manifest.json") ? ImageArchive.json(archive, "manifest.json") : null;
        if (named.size() > 1 || (dockerManifest != null && dockerManifest.size() > 1)) {
            throw new Mismatch(Reason.EXTRA_IMAGE, "the archive holds " + Math.max(named.size(), dockerManifest == null ? 0 : dockerManifest.size())
                    + " images; the release signs one");
        }
        if (!named.contains(signed.getManifestDigest())) {
            throw new Mismatch(Reason.MANIFEST_MISMATCH, "the archive's index names manifest " + String.join(", ", named)
                    + ", the release signs " + signed.getManifestDigest());
        }
        ArchiveEntries.Entry manifestBlob = archive.blob(signed.getManifestDigest()).orElseThrow(() ->
                new Mismatch(Reason.MANIFEST_MISMATCH, "the manifest " + signed.getManifestDigest() + " is missing from the archive"));
        if (!manifestBlob.digest().equals(signed.getManifestDigest())) {
            throw new Mismatch(Reason.MANIFEST_MISMATCH, "the manifest blob was altered: it hashes to " + manifestBlob.digest()
                    + ", the release signs " + signed.getManifestDigest());
        }
        JsonNode manifest = ImageArchive.json(archive, manifestBlob.name());
        String configDigest = manifest.path("config").path("digest").asText();
        if (!configDigest.equals(signed.getImageId())) {
            throw new Mismatch(Reason.IMAGE_ID_MISMATCH, "the manifest names config " + configDigest + ", the release signs " + signed.getImageId());
        }
        verifyConfigBlob(archive, ArchiveEntries.blobName(configDigest), signed);
        List<String> layerBlobs = new ArrayList<>();
        for (JsonNode layer : manifest.path("layers")) {
            String digest = layer.path("digest").asText();
            String name = ArchiveEntries.blobName(digest);
            ArchiveEntries.Entry blob = archive.entry(name).orElseThrow(() ->
                    new Mismatch(Reason.LAYER_MISMATCH, "layer " + digest + " is missing from the archive"));
            if (!blob.digest().equals(digest)) {
                throw new Mismatch(Reason.LAYER_MISMATCH, "layer " + digest + " was altered: it hashes to " + blob.digest());
            }
            layerBlobs.add(name);
        }
        if (dockerManifest != null && dockerManifest.size() == 1) {
            // a classic store loads what manifest.json names: it must be the very config and layers the index names
            JsonNode entry = dockerManifest.get(0);
            String config = archive.realName(entry.path("Config").asText()).orElse("");
            if (!config.equals(ArchiveEntries.blobName(configDigest))) {
                throw new Mismatch(Reason.MANIFEST_MISMATCH, "manifest.json names config '" + entry.path("Config").asText()
                        + "', the signed manifest " + ArchiveEntries.blobName(configDigest));
            }
            List<String> legacyLayers = new ArrayList<>();
            for (JsonNode layer : entry.path("Layers")) {
                legacyLayers.add(archive.realName(layer.asText()).orElse(layer.asText()));
            }
            if (!legacyLayers.equals(layerBlobs)) {
                throw new Mismatch(Reason.MANIFEST_MISMATCH, "manifest.json names other layers than the signed manifest");
            }
        }
    }

    /** A release made before archives were normalized: a docker save archive checked by its config digest alone. */
    private static void verifyLegacy(ArchiveEntries archive, ImageArtifact signed) throws Mismatch, InvalidImageArchiveException {
        JsonNode manifest = ImageArchive.json(archive, "manifest.json");
        if (!manifest.isArray() || manifest.isEmpty()) {
            throw new Mismatch(Reason.MALFORMED, "the archive's manifest.json names no image");
        }
        if (manifest.size() > 1) {
            throw new Mismatch(Reason.EXTRA_IMAGE, "the archive holds " + manifest.size() + " images; the release signs one");
        }
        verifyConfigBlob(archive, manifest.get(0).path("Config").asText(), signed);
    }

    private static void verifyConfigBlob(ArchiveEntries archive, String name, ImageArtifact signed) throws Mismatch, InvalidImageArchiveException {
        ArchiveEntries.Entry config = archive.entry(name).orElseThrow(() ->
                new Mismatch(Reason.IMAGE_ID_MISMATCH, "the image config " + name + " is missing from the archive"));
        if (!config.digest().equals(signed.getImageId())) {
            throw new Mismatch(Reason.IMAGE_ID_MISMATCH, "the archive holds image " + config.digest() + ", the release signs " + signed.getImageId());
        }
        if (signed.getDiffIdsCount() > 0) {
            List<String> diffIds = new ArrayList<>();
            ImageArchive.json(archive, config.name()).path("rootfs").path("diff_ids").forEach(d -> diffIds.add(d.asText()));
            if (!diffIds.equals(signed.getDiffIdsList())) {
                throw new Mismatch(Reason.LAYER_MISMATCH, "the image's layers are not the ones the release signs");
            }
        }
    }
}
