//! libffi with the general conversions: every argument converted by its shape into a frame
//! (on the stack for the common case), the result read back. The reference the faster routes
//! are tested against, and what any argument they do not accept as is goes through — which
//! also explains every error.

use std::ffi::c_void;
use std::mem::MaybeUninit;

use super::{INLINE_ARGS, INLINE_FRAME_WORDS, Prepared, infer_variadic_types};
use crate::convert::{self, Inline, Scratch, WriteOptions, bytes_of};
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

    /// Through libffi's `ffi_call` on the prepared interface.
    #[inline(never)]
    pub(super) fn call_libffi(&self, args: &[Value]) -> Result<Value, Error> {
        // Every word libffi reads is written below, so the frame is not zeroed.
        let mut inline_frame = [const { MaybeUninit::<u64>::uninit() }; INLINE_FRAME_WORDS];
        let mut heap_frame;
        let frame: &mut [MaybeUninit<u64>] = if self.frame_words <= INLINE_FRAME_WORDS {
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

        let mut small_result = [0u64; 2];
        let mut inline_result;
        let mut heap_result;
        let result: &mut [u8] = if self.result_size <= 16 {
            bytes_of(&mut small_result)
        } else if self.result_size <= 64 {
            inline_result = Inline([0u8; 64]);
            &mut inline_result.0[..self.result_size]
        } else {
            heap_result = vec![0u64; self.result_size.div_ceil(8)];
            &mut bytes_of(&mut heap_result)[..self.result_size]
        };

        let around = self.enter();
        // SAFETY: the interface was prepared from the declaration of the function at `code`
        // (the caller of `Library::function` vouches that it is right); every argument was
        // checked and written, in full, at its 16-byte aligned word; the strings and buffers
        // pointed to live in `scratch` until after the call; `result` is 8-byte aligned (the
        // most a by-value result here needs) and at least 8 bytes, covering libffi's
        // widened small-integer results.
        unsafe {
            self.interface.call(
                self.code as *const c_void,
                pointers.as_mut_ptr().cast(),
                result.as_mut_ptr().cast(),
            )
        };
        self.leave(around, args)?;
        let first = u64::from_ne_bytes(result[..8].try_into().expect("8 bytes"));
        // Read before the scratch copies go: a `char *` result may point into one of them.
        let value = match self.quick_result.value(first) {
            Some(value) => value,
            None => convert::read_result(&self.signature.result.shape, result),
        };
        drop(scratch);
        Ok(value)
    }

    /// The general conversion of argument `index` into the frame words starting at its own:
    /// checked, converted into bytes, then copied in word by word.
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
        let mut inline = [0u64; 8];
        let mut heap;
        let staged: &mut [u64] = if size <= 64 {
            &mut inline[..size.div_ceil(8)]
        } else {
            heap = vec![0u64; size.div_ceil(8)];
            &mut heap
        };
        // A planned struct given in order is written member by member; any other value takes
        // the general conversion.
        let planned = self
            .record(index)
            .is_some_and(|plan| plan.write(value, bytes_of(staged)));
        if !planned {
            self.convert_argument(index, value, &mut bytes_of(staged)[..size], scratch)?;
        }
        for (word, staged) in words.iter_mut().zip(staged.iter()) {
            word.write(*staged);
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
