"""The ground floor every other package stands on: the project's errors, atomic file output, the words of its
messages, the sketch type and its Quick, Draw! file format, and the rules for safe names. It imports no other
package of the project."""
