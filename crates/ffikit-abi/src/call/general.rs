//! libffi with the general conversions: every argument converted by its shape into a frame
//! (on the stack for the common case), the result read back. The reference the faster routes
//! are tested against, and what any argument they do not accept as is goes through — which
//! also explains every error.

use std::ffi::c_void;
use std::mem::MaybeUninit;

use super::{
    INLINE_ARGS, INLINE_FRAME_WORDS, LARGE_FRAME_WORDS, LARGE_RESULT_UNITS, Prepared,
    infer_variadic_types,
};
use crate::convert::{self, Inline, Scratch, WriteOptions, bytes_of};

/// A `u128` buffer's bytes.
fn bytes_of_units(units: &mut [u128]) -> &mut [u8] {
    // SAFETY: u128s are plain bytes; u8 has no alignment or validity requirements.
    unsafe { std::slice::from_raw_parts_mut(units.as_mut_ptr().cast::<u8>(), 16 * units.len()) }
}
use crate::error::Error;
use crate::value::Value;

impl Prepared {
    /// Every call the lanes do not take: arity checked, then the fast path or libffi.
    #[inline(never)]
    pub(super) fn call_general(&self, args: &[Value]) -> Result<Value, Error> {
        if args.len() == self.arity() {
            #[cfg(fast_path)]
            if let (Some(fast), false) = (&self.fast, self.force_libffi) {
                return self.call_fast(fast, args);
            }
            return self.call_libffi(args);
        }
        self.call_other_arity(args)
    }

    /// A variadic call without declared variadic types, or the wrong number of arguments.
    #[inline(never)]
    pub(super) fn call_other_arity(&self, args: &[Value]) -> Result<Value, Error> {
        if self.signature.variadic && self.variadic.is_empty() && args.len() > self.arity() {
            // Variadic arguments without declared types: infer them (ctypes' way), at the
            // cost of preparing an interface for this call.
            let types = infer_variadic_types(&args[self.arity()..])?;
            let specialized = self.specialize(&types)?;
            return specialized.call(args);
        }
        let expected = if self.signature.variadic && self.variadic.is_empty() {
            format!("at least {}", self.arity())
        } else {
            self.arity().to_string()
        };
        Err(Error::ArityMismatch {
            function: self.signature.name.clone(),
            expected,
            given: args.len(),
        })
    }

    /// Through libffi's `ffi_call` on the prepared interface: on the stack for a frame of up
    /// to 64 words and a result of up to 64 bytes, else (structs by value up to 4 KiB) in larger
    /// stack buffers of their own — no heap allocation either way.
    #[inline(never)]
    pub(super) fn call_libffi(&self, args: &[Value]) -> Result<Value, Error> {
        if self.frame_words <= INLINE_FRAME_WORDS && self.result_size <= 64 {
            return self.call_libffi_in::<INLINE_FRAME_WORDS, 4>(args, None);
        }
        self.call_libffi_large(args, None)
    }

    /// [`call_libffi`](Self::call_libffi) with the result's bytes written into `result` (at
    /// least the result's size rounded up to 16 bytes, 16-byte aligned) instead of read into
    /// a value: a struct result read into a C object without an allocation.
    pub(super) fn call_libffi_into(&self, args: &[Value], result: &mut [u8]) -> Result<(), Error> {
        if self.frame_words <= INLINE_FRAME_WORDS {
            self.call_libffi_in::<INLINE_FRAME_WORDS, 4>(args, Some(result))?;
        } else {
            self.call_libffi_large(args, Some(result))?;
        }
        Ok(())
    }

    /// Calls with 4 KiB (and more) of stack buffers, out of line so that smaller calls do not
    /// probe the stack for them.
    #[inline(never)]
    fn call_libffi_large(&self, args: &[Value], into: Option<&mut [u8]>) -> Result<Value, Error> {
        self.call_libffi_in::<LARGE_FRAME_WORDS, LARGE_RESULT_UNITS>(args, into)
    }

    /// The libffi call with a frame of `FRAME` words and a result of `RESULT_UNITS` 16-byte
    /// units on the stack (larger ones on the heap); the result read into a value, or
    /// written into `into` (then [`Value::Void`] is returned).
    #[inline(always)]
    fn call_libffi_in<const FRAME: usize, const RESULT_UNITS: usize>(
        &self,
        args: &[Value],
        into: Option<&mut [u8]>,
    ) -> Result<Value, Error> {
        // Every word libffi reads is written below, so the frame is not zeroed.
        let mut inline_frame = [const { MaybeUninit::<u64>::uninit() }; FRAME];
        let mut heap_frame;
        let frame: &mut [MaybeUninit<u64>] = if self.frame_words <= FRAME {
            &mut inline_frame[..self.frame_words]
        } else {
            heap_frame = vec![MaybeUninit::uninit(); self.frame_words];
            &mut heap_frame
        };
        let mut scratch = Scratch::new();
        for (index, value) in args.iter().enumerate() {
            let word = self.offsets[index];
            match self.quick[index].bits(value) {
                // Little-endian: a narrower value sits in the word's low bytes, where libffi
                // reads it.
                Some(bits) => {
                    frame[word].write(bits);
                }
                None => self.write_argument(index, value, &mut frame[word..], &mut scratch)?,
            }
        }

        let mut inline_pointers = [const { MaybeUninit::<*mut c_void>::uninit() }; INLINE_ARGS];
        let mut heap_pointers;
        let pointers: &mut [MaybeUninit<*mut c_void>] = if args.len() <= INLINE_ARGS {
            &mut inline_pointers[..args.len()]
        } else {
            heap_pointers = vec![MaybeUninit::uninit(); args.len()];
            &mut heap_pointers
        };
        for (pointer, &word) in pointers.iter_mut().zip(&self.offsets) {
            pointer.write(frame[word..].as_mut_ptr().cast());
        }

        // Zeroed as far as the result reaches (libffi widens small integers to a register).
        let mut inline_result = [const { MaybeUninit::<u128>::uninit() }; RESULT_UNITS];
        let mut heap_result;
        let into_given = into.is_some();
        let result: &mut [u8] = match into {
            Some(into) => into,
            None if self.result_size <= 16 * RESULT_UNITS => {
                let units = &mut inline_result[..self.result_size.div_ceil(16)];
                for unit in units.iter_mut() {
                    unit.write(0);
                }
                // SAFETY: the units were just initialized; u8 has no alignment or validity
                // requirements.
                unsafe {
                    std::slice::from_raw_parts_mut(
                        units.as_mut_ptr().cast::<u8>(),
                        self.result_size,
                    )
                }
            }
            None => {
                heap_result = vec![0u128; self.result_size.div_ceil(16)];
                &mut bytes_of_units(&mut heap_result)[..self.result_size]
            }
        };

        let around = self.enter();
        // SAFETY: the interface was prepared from the declaration of the function at `code`
        // (the caller of `Library::function` vouches that it is right); every argument was
        // checked and written, in full, at its 16-byte aligned word; the strings and buffers
        // pointed to live in `scratch` until after the call; `result` is 16-byte aligned and
        // at least the result's size rounded up to 16 bytes (`call_libffi_into`'s caller
        // guarantees its buffer), covering libffi's widened small-integer results.
        unsafe {
            self.interface.call(
                self.code as *const c_void,
                pointers.as_mut_ptr().cast(),
                result.as_mut_ptr().cast(),
            )
        };
        self.leave(around, args)?;
        if into_given {
            // Written into the caller's buffer.
            return Ok(Value::Void);
        }
        let first = u64::from_ne_bytes(result[..8].try_into().expect("8 bytes"));
        // Read before the scratch copies go: a `char *` result may point into one of them.
        let value = match self.quick_result.value(first) {
            Some(value) => value,
            None => convert::read_result(&self.signature.result.shape, result),
        };
        drop(scratch);
        Ok(value)
    }

    /// The general conversion of argument `index` straight into the frame words starting
    /// at its own (zeroed first: padding included): checked, converted into bytes.
    #[inline(never)]
    pub(super) fn write_argument(
        &self,
        index: usize,
        value: &Value,
        words: &mut [MaybeUninit<u64>],
        scratch: &mut Scratch,
    ) -> Result<(), Error> {
        let typed = match self.signature.params.get(index) {
            Some(param) => &param.typed,
            None => &self.variadic[index - self.signature.params.len()].promoted,
        };
        let size = typed.shape.size_align().0 as usize;
        // The frame gives each argument at least its size in words.
        let words = &mut words[..size.div_ceil(8).max(1)];
        for word in words.iter_mut() {
            word.write(0);
        }
        // SAFETY: every word was just initialized.
        let staged: &mut [u64] = unsafe {
            std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u64>(), words.len())
        };
        // A planned struct given in order is written member by member; any other value takes
        // the general conversion.
        let planned = self
            .record(index)
            .is_some_and(|plan| plan.write(value, bytes_of(staged)));
        if !planned {
            self.convert_argument(index, value, &mut bytes_of(staged)[..size], scratch)?;
        }
        Ok(())
    }

    pub(super) fn convert_argument(
        &self,
        index: usize,
        value: &Value,
        dst: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<(), Error> {
        let fixed = self.signature.params.len();
        let place = convert::Place::Argument {
            index,
            name: self
                .signature
                .params
                .get(index)
                .and_then(|p| p.name.as_deref()),
            function: &self.signature.name,
        };
        if index < fixed {
            let param = &self.signature.params[index];
            let options = WriteOptions {
                nullable_string: param.nullable,
            };
            return convert::write(
                &param.typed.shape,
                &param.typed.c_name,
                value,
                dst,
                &place,
                scratch,
                options,
            );
        }
        // A variadic argument: checked as its declared type, passed promoted.
        let arg = &self.variadic[index - fixed];
        let options = WriteOptions {
            nullable_string: true,
        };
        let mut declared = Inline([0u8; 32]);
        let declared_size = arg.declared.shape.size_align().0 as usize;
        let value = if arg.declared.shape != arg.promoted.shape && declared_size <= 32 {
            convert::write(
                &arg.declared.shape,
                &arg.declared.c_name,
                value,
                &mut declared.0[..declared_size],
                &place,
                scratch,
                options,
            )?;
            &convert::read(&arg.declared.shape, &declared.0)
        } else {
            value
        };
        convert::write(
            &arg.promoted.shape,
            &arg.promoted.c_name,
            value,
            dst,
            &place,
            scratch,
            options,
        )
    }
}
