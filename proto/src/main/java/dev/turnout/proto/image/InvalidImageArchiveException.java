package dev.turnout.proto.image;

/** The file is not an image archive Turnout can use; the message says why in words for the person who made it. */
public final class InvalidImageArchiveException extends Exception {

    public InvalidImageArchiveException(String message) {
        super(message);
    }
}
